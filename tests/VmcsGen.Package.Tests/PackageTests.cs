using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace VmcsGen.Package.Tests;

/// <summary>
/// What a newcomer does, end to end: pack VmcsGen into a local folder feed, make a fresh console project that adds the
/// package by name from that feed, put the manifest and Program.cs of docs/GETTING-STARTED.md in it (the page's own code
/// blocks), build and run a nested round trip, then check that manifest mistakes surface as VMCS diagnostics in that build.
/// </summary>
[Category("DocSync")] // follows docs/GETTING-STARTED.md as written, with the real dotnet pack/new/add/build/run
public sealed class PackageTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private string _work = null!;
    private string _app = null!;
    private string _version = null!;

    [OneTimeSetUp]
    public void PackAndCreateTheApp()
    {
        _work = Directory.CreateTempSubdirectory("vmcsgen-package-").FullName;
        var feed = Path.Combine(_work, "feed");
        _version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var root = RepositoryRoot();
        Run(root, "pack", Path.Combine(root, "runtime", "VmcsGen.Runtime", "VmcsGen.Runtime.csproj"), "-c", Configuration, "--no-build", "-o", feed, "-p:PackageVersion=" + _version);
        Assert.That(File.Exists(Path.Combine(feed, $"VmcsGen.{_version}.nupkg")), "dotnet pack made the package");

        File.WriteAllText(Path.Combine(_work, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        Run(_work, "new", "console", "-o", "MyHypervisor", "--no-restore");
        _app = Path.Combine(_work, "MyHypervisor");
        Run(_app, "add", "package", "VmcsGen", "--version", _version);

        var guide = File.ReadAllText(Path.Combine(root, "docs", "GETTING-STARTED.md"));
        var blocks = Regex.Matches(guide, @"<!-- file: (?<path>[^ ]+) -->\s*```[a-z]*\n(?<code>.*?)```", RegexOptions.Singleline);
        Assert.That(blocks, Has.Count.EqualTo(2), "GETTING-STARTED.md has the manifest and Program.cs");
        foreach (Match block in blocks)
        {
            var path = Path.Combine(_app, block.Groups["path"].Value);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, block.Groups["code"].Value);
        }
    }

    [OneTimeTearDown]
    public void Clean()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Test, Order(1)]
    public void TheGuidesProgramBuildsAndRunsANestedRoundTrip()
    {
        var output = Run(_app, "run", "-c", "Release");
        Assert.That(output, Does.Contain("exit reason 10, L2 resumes at 0x1002"));
        Assert.That(output, Does.Contain("L1 exits 2 (VMREAD 1, VMRESUME 1)"));
        Assert.That(output, Does.Match(@"L0 VMREADs \d+, VMWRITEs \d+, rare syncs 1"));
    }

    [Test, Order(2)]
    public void AManifestMistakeIsAVmcsDiagnosticInThatBuild()
    {
        var bad = Path.Combine(_app, "fields", "bad.vmcs");
        File.WriteAllText(bad, "layout MyHypervisor.Bad\nrevision 1\nVMCS_LINK_POINTER 2800\n");
        try
        {
            var output = Run(_app, expectFailure: true, "build", "-c", "Release");
            Assert.That(output, Does.Contain("bad.vmcs(3,19): error VMCS0124"));
            Assert.That(output, Does.Not.Contain("error CS"), "no C# error from generated code");
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Test, Order(3)]
    public void AManifestOutsideFieldsIsNamedNotIgnored()
    {
        var stray = Path.Combine(_app, "stray.vmcs");
        File.WriteAllText(stray, "layout MyHypervisor.Stray\nrevision 1\nGUEST_RIP 0x681e\n");
        try
        {
            var output = Run(_app, "build", "-c", "Release");
            Assert.That(output, Does.Contain("warning VMCS0905"));
            Assert.That(output, Does.Contain("stray.vmcs"));
        }
        finally
        {
            File.Delete(stray);
        }
    }

    private string Run(string directory, params string[] arguments) => Run(directory, false, arguments);

    private string Run(string directory, bool expectFailure, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_work, "packages");
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        start.Environment.Remove("MSBuildSDKsPath");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish in 5 minutes");
        }

        var output = stdout.Result + stderr.Result;
        TestContext.Out.WriteLine($"$ dotnet {string.Join(' ', arguments)}  (in {directory})\n{output}");
        if (!expectFailure)
        {
            Assert.That(process.ExitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)} failed:\n{output}");
        }

        return output;
    }

    private static string RepositoryRoot([CallerFilePath] string path = "")
    {
        var directory = Path.GetDirectoryName(path);
        while (directory is not null && !File.Exists(Path.Combine(directory, "VmcsGen.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory ?? throw new InvalidOperationException("VmcsGen.sln not found above " + path);
    }
}
