using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace VmcsGen.Package.Tests;

/// <summary>
/// The .NET tool as a user gets it: VmcsGen.Sim installed from the local feed into a tool path, then run from a directory
/// outside the clone: the default verb, <c>suite vmexit</c>, and <c>advise</c> on a manifest file of the user's.
/// Short runs (few rounds): what is checked is that the tool finds its shipped workloads, suites, manifests and
/// generator where it is installed, not the numbers (NestedSim's own tests hold those).
/// </summary>
[NonParallelizable]
public sealed class ToolPackageTests
{
    private string _work = null!;
    private string _tool = null!;

    [OneTimeSetUp]
    public void InstallTheTool()
    {
        _work = Directory.CreateTempSubdirectory("vmcsgen-tool-").FullName;
        File.WriteAllText(Path.Combine(_work, "nuget.config"), LocalFeed.NuGetConfig);
        Dotnet.Run(_work, Packages, false, "tool", "install", "VmcsGen.Sim", "--tool-path", Path.Combine(_work, "tools"), "--version", LocalFeed.Version);
        _tool = Path.Combine(_work, "tools", OperatingSystem.IsWindows() ? "vmcsgen-sim.exe" : "vmcsgen-sim");
        Assert.That(File.Exists(_tool), "the tool's command is vmcsgen-sim");
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

    private string Packages => Path.Combine(_work, "packages");

    private (int Status, string Output, string Stdout) Sim(int status, params string[] arguments) => Dotnet.Program(_tool, _work, Packages, status, arguments);

    [Test]
    public void ThePlainRunReplaysTheShippedWorkloadsOnEveryStrategy()
    {
        var (_, _, csv) = Sim(0, "--rounds", "200", "--format", "csv");
        var rows = csv.Split('\n', System.StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(r => r.Split(',')).ToList();
        Assert.That(rows.Select(r => r[0]).Distinct(), Is.EquivalentTo(new[] { "cpuid-loop", "idle", "io-mix" }));
        Assert.That(rows.Select(r => r[1]).Distinct(), Is.SupersetOf(new[] { "no-shadow", "kvm-2018", "+ro-split", "+rare-sync", "+control-shadows", "kvm" }));
    }

    [Test]
    public void TheSuiteVerbFindsTheVmexitSuiteAndThePublishedTable()
    {
        var (_, _, json) = Sim(0, "suite", "vmexit", "--rounds", "200", "--format", "json");
        using var document = JsonDocument.Parse(json);
        var tests = document.RootElement.GetProperty("tests").EnumerateArray().ToList();
        Assert.That(document.RootElement.GetProperty("schema").GetString(), Is.EqualTo("vmcsgen-nestedsim-suite/1"));
        Assert.That(tests.Single(t => t.GetProperty("name").GetString() == "cpuid").GetProperty("published").GetProperty("before").GetDouble(),
            Is.EqualTo(14_886), "the 2019 cover letter's cpuid row, from the shipped Calibration/ table");
    }

    [Test]
    public void AdviseCompilesAManifestFileOfTheUsersAndWritesTheProvedProposal()
    {
        var manifest = Path.Combine(_work, "my.vmcs");
        File.Copy(Path.Combine(Dotnet.RepositoryRoot(), "fields", "kvm.vmcs"), manifest, overwrite: true);
        var proposal = Path.Combine(_work, "my.advised.vmcs");
        var (_, output, _) = Sim(0, "advise", "--manifest", "my.vmcs", "--workload", "cpuid-loop", "--rounds", "300", "--safety", "10", "--quiet", "--out",
            proposal);
        Assert.That(output, Does.Contain("proved:"));
        Assert.That(File.ReadAllText(proposal), Does.StartWith("# Proposed by NestedSim advise from my.vmcs"));
    }

    [Test]
    public void BadInputIsOneLineAndStatus2()
    {
        var (_, output, _) = Sim(2, "--rounds", "0");
        Assert.That(output.Trim(), Is.EqualTo("NestedSim: --rounds takes a whole number of round trips from 1 to 1,000,000, got '0'"));
    }

    /// <summary>Both packages name the repository and the commit they were built from (SourceLink writes it into the nuspec).</summary>
    [TestCase("VmcsGen")]
    [TestCase("VmcsGen.Sim")]
    public void ThePackageNamesItsRepositoryCommit(string id)
    {
        using var package = ZipFile.OpenRead(Path.Combine(LocalFeed.Directory, $"{id}.{LocalFeed.Version}.nupkg"));
        using var reader = new StreamReader(package.GetEntry(id + ".nuspec")!.Open());
        var nuspec = reader.ReadToEnd();
        Assert.That(nuspec, Does.Match(@"<repository type=""git"" url=""https://github\.com/VmcsGen/VmcsGen""[^>]* commit=""[0-9a-f]{40}"""));
        if (id == "VmcsGen.Sim")
        {
            Assert.That(nuspec, Does.Contain(@"<packageType name=""DotnetTool"" />"));
            Assert.That(package.Entries.Select(e => e.FullName), Does.Contain("tools/net10.0/any/fields/kvm.vmcs")
                .And.Contain("tools/net10.0/any/Workloads/vmexit/cpuid.workload").And.Contain("tools/net10.0/any/Costs/default.costs"));
        }
    }
}
