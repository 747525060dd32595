using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Spectre.Console;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.NestedSim.Tests;

/// <summary>The command line (Spectre.Console.Cli): verbs, help, the --suite alias, exit statuses.</summary>
public sealed class CliTests
{
    private static readonly string[] Verbs = ["run", "suite", "calibrate", "advise", "compare", "record", "convert"];

    /// <summary>Runs a command line in process with the output captured as plain text.</summary>
    private static (int Status, string Output) Execute(params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 120;
        return (SimApp.Execute(args, console), output.ToString());
    }

    [Test]
    public void TheToolsHelpListsEveryVerbWithExamplesAndTheExitStatuses()
    {
        var (status, help) = Execute("--help");
        Assert.That(status, Is.EqualTo(Program.Ran));
        Assert.Multiple(() =>
        {
            Assert.That(help, Does.Contain("USAGE:").And.Contain("vmcsgen-sim [OPTIONS] [COMMAND]"));
            foreach (var verb in Verbs)
            {
                Assert.That(help, Does.Match($@"\n\s+{verb}\b"), $"the verb {verb} is listed");
            }

            Assert.That(help, Does.Contain("vmcsgen-sim --workload idle --format csv"), "an example of the default verb");
            Assert.That(help, Does.Contain("--rounds <N>").And.Contain("--list"), "the default verb's options");
            Assert.That(help, Does.Contain("EXIT STATUS:").And.Contain("2  bad input").And.Contain("3  ran, but").And.Contain("4  advise"));
        });
    }

    [TestCaseSource(nameof(Verbs))]
    public void EachVerbsHelpHasItsUsageAndExamples(string verb)
    {
        var (status, help) = Execute(verb, "--help");
        Assert.That(status, Is.EqualTo(Program.Ran));
        Assert.That(help, Does.Contain($"vmcsgen-sim {verb}").And.Contain("EXAMPLES:").And.Contain("DESCRIPTION:"));
        var examples = Regex.Matches(help, $@"^\s+vmcsgen-sim {verb}\b.*$", RegexOptions.Multiline);
        Assert.That(examples, Is.Not.Empty, "at least one example of the verb");
    }

    /// <summary>`--suite NAME` before any verb is the suite verb (every documented `--suite vmexit …` keeps working).</summary>
    [Test]
    public void TheSuiteOptionIsAnAliasOfTheSuiteVerb()
    {
        var alias = Options.Parse(["--rounds", "50", "--suite", "vmexit", "--format", "json"]);
        var verb = Options.Parse(["suite", "vmexit", "--rounds", "50", "--format", "json"]);
        Assert.That((alias.Suite, alias.Rounds, alias.Format), Is.EqualTo(("vmexit", 50, "json")));
        Assert.That((verb.Suite, verb.Rounds, verb.Format), Is.EqualTo((alias.Suite, alias.Rounds, alias.Format)));
        Assert.That(Options.Parse(["--suite=vmexit"]).Suite, Is.EqualTo("vmexit"));
        Assert.That(Options.Parse(["run", "--workload", "idle"]).Workloads, Is.EqualTo(new[] { "idle" }), "run is also a named verb");
    }

    [Test]
    public void HelpIsNotParsedAsARun() => Assert.That(Options.Parse(["--help"]).Help, Is.True);

    /// <summary>The built program: bad input is one line on stderr (no stack trace) and exit status 2; help is status 0.</summary>
    [TestCase(new[] { "--rounds", "0" }, 2, "NestedSim: --rounds takes a whole number of round trips from 1 to 1,000,000, got '0'")]
    [TestCase(new[] { "suite", "nope" }, 2, "NestedSim: suite nope: no such suite; shipped: vmexit")]
    [TestCase(new[] { "advise", "--manifest", "kvm", "--frobnicate" }, 2, "NestedSim: Unknown option 'frobnicate' (try advise --help)")]
    [TestCase(new[] { "calibrate", "--before", "/nonexistent/old.txt" }, 2, "NestedSim: --before /nonexistent/old.txt: no such file")]
    [TestCase(new[] { "--help" }, 0, "")]
    public void TheProgramExitsWithItsDocumentedStatus(string[] args, int status, string error)
    {
        var program = Path.Combine(AppContext.BaseDirectory, "NestedSim.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(program);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.That(process.ExitCode, Is.EqualTo(status), stderr);
        Assert.That(stderr.TrimEnd('\n', '\r'), Is.EqualTo(error), "one line, no stack trace");
        if (status == 0)
        {
            Assert.That(stdout.Result, Does.Contain("USAGE:"));
        }
    }

    /// <summary>
    /// Doc-sync: every NestedSim command line the READMEs and docs/ show parses and passes the verbs' checks (files it names
    /// are stood in for by empty files). A documented spelling that stops working fails here.
    /// </summary>
    [Test]
    [Category("DocSync")]
    public void EveryDocumentedCommandLineIsAccepted()
    {
        var root = Sim.RepositoryRoot();
        var documents = new[] { Path.Combine(root, "README.md"), Path.Combine(root, "CONTRIBUTING.md"),
            Path.Combine(root, "samples", "NestedSim", "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories))
            .Where(File.Exists);
        var lines = documents.SelectMany(d => DocumentedCommandLines(File.ReadAllText(d)).Select(line => (Document: Path.GetRelativePath(root, d),
            Line: line))).ToList();
        Assert.That(lines.Count(l => l.Document.StartsWith("samples", StringComparison.Ordinal)), Is.GreaterThan(15),
            "the sample README's command lines were found");

        var directory = Path.Combine(Path.GetTempPath(), "vmcsgen-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            Assert.Multiple(() =>
            {
                foreach (var (document, line) in lines)
                {
                    var args = line.Select(token => StandIn(token, directory)).ToArray();
                    Assert.That(() => SimApp.Check(args), Throws.Nothing, $"{document}: {string.Join(' ', line)}");
                }
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// The arguments of each <c>dotnet run --project samples/NestedSim … --</c> line and each <c>vmcsgen-sim …</c> line of a
    /// code block (continuations joined, comments and [optional] brackets dropped).
    /// </summary>
    private static IEnumerable<string[]> DocumentedCommandLines(string markdown)
    {
        var text = Regex.Replace(markdown, @"\\\r?\n\s*", " ");
        var lines = Regex.Matches(text, @"dotnet run --project samples/NestedSim -c Release(?: -- ([^`\n#]*))?")
            .Concat(Regex.Matches(text, @"(?m)^\s*vmcsgen-sim( [^`\n#]*)?")); // the installed tool's lines in code blocks
        foreach (Match m in lines)
        {
            var args = m.Groups[1].Value.Replace("[", string.Empty, StringComparison.Ordinal).Replace("]", string.Empty, StringComparison.Ordinal);
            yield return args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    /// <summary>An empty stand-in for a file the line names (unless the tool ships it), so that the line's spelling is what is checked.</summary>
    private static string StandIn(string token, string directory)
    {
        if (token.StartsWith('-') || !Regex.IsMatch(token, @"\.(txt|costs|trace|gz|vmcs|tsv|workload|svg|png)$")
            || File.Exists(Path.Combine(AppContext.BaseDirectory, token)))
        {
            return token;
        }

        var path = Path.Combine(directory, token);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, string.Empty);
        return path;
    }
}
