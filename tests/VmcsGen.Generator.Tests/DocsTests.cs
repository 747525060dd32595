using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>
/// The C# examples in docs/ run as written: each block is compiled as a console program (with the implicit usings of a
/// net10.0 console project) against the runtime, run, and every <c>Console.WriteLine(…); // expected</c> comment is
/// checked against what it printed (a trailing "…" means "starts with").
/// Doc-sync: these hold the docs to the code (the examples must compile and print what they say); they compare against
/// nothing outside the repository. Tests here run one at a time (NUnit's default), so redirecting Console.Out is safe.
/// </summary>
[Category("DocSync")]
public sealed class DocsTests
{
    /// <summary>RUNTIME.md: the generated code and the engine; TRACE.md: recording an L1 (it writes my-l1.trace where it runs).</summary>
    [TestCase("RUNTIME.md")]
    [TestCase("TRACE.md")]
    public void DocsExampleRunsAsPrinted(string document)
    {
        var markdown = File.ReadAllText(Path.Combine(DiagnosticTests.RepositoryRoot(), "docs", document));
        var blocks = Regex.Matches(markdown, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        Assert.That(blocks, Has.Count.EqualTo(1), $"docs/{document} has one C# example");

        var code = blocks[0];
        var expected = Regex.Matches(code, @"Console\.WriteLine\(.*?\);\s*//\s*(.+)$", RegexOptions.Multiline).Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.That(expected, Is.Not.Empty, "the example states what it prints");

        var printed = Run(code, document);
        Assert.That(printed, Has.Count.EqualTo(expected.Count), string.Join("\n", printed));
        for (var i = 0; i < expected.Count; i++)
        {
            var text = expected[i];
            if (text.EndsWith('…'))
            {
                Assert.That(printed[i], Does.StartWith(text.TrimEnd('…').TrimEnd()), $"line {i + 1}");
            }
            else
            {
                Assert.That(printed[i], Is.EqualTo(text), $"line {i + 1}");
            }
        }
    }

    /// <summary>
    /// The test filters README.md and CONTRIBUTING.md give (<c>--filter "Category=X"</c>, <c>"Category!=X"</c>) name a
    /// category some test carries: a renamed category would otherwise make a documented command run nothing, or skip
    /// nothing, without a word.
    /// </summary>
    [TestCase("README.md")]
    [TestCase("CONTRIBUTING.md")]
    public void DocumentedTestFiltersNameCategoriesThatExist(string document)
    {
        var root = DiagnosticTests.RepositoryRoot();
        var documented = Regex.Matches(File.ReadAllText(Path.Combine(root, document)), @"--filter ""Category!?=(\w+)""")
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.That(documented, Is.Not.Empty, $"{document} shows a category filter");

        var snapshots = Path.DirectorySeparatorChar + "Snapshots" + Path.DirectorySeparatorChar;
        var categories = Directory.EnumerateFiles(Path.Combine(root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains(snapshots, StringComparison.Ordinal))
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), @"\bCategory\(""(\w+)""\)").Select(m => m.Groups[1].Value))
            .ToHashSet();
        Assert.That(documented, Is.SubsetOf(categories), $"{document}'s filters against the categories in tests/");
    }

    private static List<string> Run(string program, string document)
    {
        var trees = new[]
        {
            CSharpSyntaxTree.ParseText(program, new CSharpParseOptions(LanguageVersion.Latest), path: document + ".cs"),
            CSharpSyntaxTree.ParseText(
                "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq;",
                new CSharpParseOptions(LanguageVersion.Latest)),
        };
        var compilation = TestHelpers.CreateCompilation().AddSyntaxTrees(trees)
            .WithOptions(new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Assert.That(emitted.Success, Is.True, string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));

        var context = new AssemblyLoadContext("docs", isCollectible: true);
        var output = new StringWriter();
        var console = Console.Out;
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            Console.SetOut(output);
            var entry = assembly.EntryPoint!;
            entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
        }
        finally
        {
            Console.SetOut(console);
            context.Unload();
        }

        return output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
    }
}
