using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace VmcsGen.Package.Tests;

/// <summary>
/// What a newcomer does, end to end: take VmcsGen from a local folder feed (<see cref="LocalFeed"/>), make a fresh console project that adds the
/// package by name from that feed, put the manifest and Program.cs of docs/GETTING-STARTED.md in it (the page's own code
/// blocks), build and run a nested round trip, then check that manifest mistakes surface as VMCS diagnostics in that build.
/// </summary>
[Category("DocSync")] // follows docs/GETTING-STARTED.md as written, with the real dotnet pack/new/add/build/run
public sealed class PackageTests
{
    private string _work = null!;
    private string _app = null!;
    private string _version = null!;

    [OneTimeSetUp]
    public void PackAndCreateTheApp()
    {
        _work = Directory.CreateTempSubdirectory("vmcsgen-package-").FullName;
        _version = LocalFeed.Version;
        var root = Dotnet.RepositoryRoot();
        Assert.That(File.Exists(Path.Combine(LocalFeed.Directory, $"VmcsGen.{_version}.nupkg")), "dotnet pack made the package");
        File.WriteAllText(Path.Combine(_work, "nuget.config"), LocalFeed.NuGetConfig);
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

    private string Run(string directory, bool expectFailure, params string[] arguments) =>
        Dotnet.Run(directory, Path.Combine(_work, "packages"), expectFailure, arguments);
}
