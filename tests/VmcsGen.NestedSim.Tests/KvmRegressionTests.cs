using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;
using VmcsGen.Samples.NestedSim.Verify;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// KVM's nVMX field-plumbing bugs re-made as one-line edits of a copy of fields/kvm.vmcs (docs/KVM-REGRESSIONS.md has
/// the table, with the commit subjects): each must be caught by the generator (the diagnostic ID) or by verify (a
/// divergence on the field), and verify must stay clean on the shipped manifests and on edits that are correct but slower.
/// </summary>
[NonParallelizable]
public sealed class KvmRegressionTests
{
    private const int Sequences = 300;

    private static string Kvm() => File.ReadAllText(Path.Combine(Sim.RepositoryRoot(), "fields", "kvm.vmcs"));

    /// <summary>The kvm.vmcs line of <paramref name="field"/> with its class replaced (or added).</summary>
    private static string Edit(string field, string? from, string to)
    {
        var lines = Kvm().Split('\n');
        var i = Array.FindIndex(lines, l => l.StartsWith(field + " ", StringComparison.Ordinal));
        Assert.That(i, Is.GreaterThanOrEqualTo(0), field);
        lines[i] = from is null ? lines[i].TrimEnd() + "  " + to : lines[i].Replace(from, to, StringComparison.Ordinal);
        Assert.That(lines[i], Does.Contain(to));
        return string.Join('\n', lines);
    }

    private static (CompiledManifest Compiled, VerifyReport? Report) Verify(string name, string text)
    {
        var compiled = VerifyCommand.Compile(name + ".vmcs", text);
        var report = compiled.Layout is null ? null : ManifestVerifier.Run(compiled.Layout, Sequences, seed: 1);
        TestContext.Out.WriteLine(string.Join("\n", compiled.Diagnostics));
        if (report?.First is { } first)
        {
            TestContext.Out.WriteLine($"{first.Divergence.Field} ({first.Divergence.Class}): " + string.Join("; ", first.Events) + " -> " +
                first.Divergence.Difference);
        }

        return (compiled, report);
    }

    // Manifest edits: the field, the class it had, the class the bug amounts to, what must catch it.
    [TestCase("cr3-readback-2013", "GUEST_CR3", "shadow-rw", "no-sync", "VMCS0126", true)]
    [TestCase("activity-state-2014", "GUEST_ACTIVITY_STATE", null, "no-sync", "VMCS0126", true)]
    [TestCase("dr7-2014", "GUEST_DR7", null, "no-sync", "VMCS0126", true)]
    [TestCase("linear-address-2018", "GUEST_LINEAR_ADDRESS", "shadow-ro", "no-sync", "VMCS0126", true)]
    [TestCase("efer-issue27", "GUEST_IA32_EFER", null, "no-sync", "VMCS0126", true)]
    [TestCase("cs-ar-bytes-2019", "GUEST_CS_AR_BYTES", "shadow-ro", "shadow-rw", "VMCS0115", false)]
    [TestCase("instruction-error-2021", "VM_INSTRUCTION_ERROR", "no-sync", "shadow-ro", "VMCS0113", false)]
    public void EachManifestEditIsCaught(string bug, string field, string? from, string to, string id, bool verifyDiverges)
    {
        var (compiled, report) = Verify(bug, Edit(field, from, to));
        Assert.That(compiled.Diagnostics.Any(d => d.Contains($" {id}: ", StringComparison.Ordinal) && d.Contains(field, StringComparison.Ordinal)), Is.True,
            $"the generator reports {id} on {field}");
        if (verifyDiverges)
        {
            Assert.That(report, Is.Not.Null);
            Assert.That(report!.Clean, Is.False, "verify's differential diverges too");
            Assert.That(report.First!.Divergence.Field, Is.EqualTo(field));
            Assert.That(report.First.Divergence.Class, Is.EqualTo(to));
            Assert.That(report.First.Events, Has.Count.LessThanOrEqualTo(6), "minimised to a short list");
        }
    }

    /// <summary>Correct but slower edits: verify must not cry wolf, and the generator reports nothing.</summary>
    [TestCase("GUEST_ES_SELECTOR", "rare-sync", "sync")]
    [TestCase("GUEST_CS_AR_BYTES", "shadow-ro", "sync")]
    [TestCase("GUEST_IA32_PAT", "no-sync", "sync")]
    public void CorrectButSlowerEditsAreClean(string field, string from, string to)
    {
        var (compiled, report) = Verify("slower", Edit(field, from, to));
        Assert.That(compiled.Diagnostics, Is.Empty);
        Assert.That(report!.Clean, Is.True, report.First?.Divergence.Difference);
        Assert.That(report.L2Exits, Is.GreaterThan(Sequences), "the sequences reach L2 and exit");
    }

    [TestCase("kvm")]
    [TestCase("kvm-2018")]
    [TestCase("kvm-2017")]
    [TestCase("ladder-2017-shadow-more")]
    [TestCase("minimal")]
    [TestCase("ladder-rare-sync")]
    [TestCase("ladder-ro-split")]
    public void TheShippedManifestsVerifyClean(string name)
    {
        var (compiled, report) = Verify(name, File.ReadAllText(Path.Combine(Sim.RepositoryRoot(), "fields", name + ".vmcs")));
        Assert.That(compiled.HasErrors, Is.False);
        Assert.That(report!.Clean, Is.True, report.First?.Divergence.Difference);
    }

    private static (int Status, string Output) RunVerify(params string[] args)
    {
        var console = Console.Out;
        using var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            return (VmcsGen.Samples.NestedSim.Cli.SimApp.Execute(["verify", .. args]), output.ToString());
        }
        finally
        {
            Console.SetOut(console);
        }
    }

    [Test]
    public void VerifyJsonNamesTheFieldAndExitsOneOnADivergenceAndZeroWhenClean()
    {
        var broken = Path.Combine(Path.GetTempPath(), $"vmcsgen-verify-{Guid.NewGuid():N}.vmcs");
        File.WriteAllText(broken, Edit("GUEST_RIP", "shadow-rw", "no-sync"));
        try
        {
            var (status, output) = RunVerify("--manifest", broken, "--sequences", "200", "--format", "json");
            Assert.That(status, Is.EqualTo(VerifyCommand.Unsound));
            using var json = JsonDocument.Parse(output);
            var root = json.RootElement;
            Assert.That(root.GetProperty("sequences").GetInt32(), Is.EqualTo(200));
            Assert.That(root.GetProperty("divergences").GetInt32(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("diagnostics").EnumerateArray().Select(e => e.GetString()), Does.Contain("VMCS0126"));
            Assert.That(root.GetProperty("first").GetProperty("field").GetString(), Is.EqualTo("GUEST_RIP"));
            Assert.That(root.GetProperty("first").GetProperty("class").GetString(), Is.EqualTo("no-sync"));
            Assert.That(root.GetProperty("first").GetProperty("events").GetArrayLength(), Is.InRange(1, 6));
            Assert.That(root.GetProperty("manifest").GetString(), Is.EqualTo(broken));
        }
        finally
        {
            File.Delete(broken);
        }

        var (clean, text) = RunVerify("--manifest", "minimal", "--sequences", "100");
        Assert.That(clean, Is.EqualTo(Program.Ran));
        Assert.That(text, Does.Contain("clean: 100 sequences"));
    }

    [Test]
    public void VerifyRefusesBadInputWithOneLine()
    {
        Assert.That(() => RunVerify("--manifest", "/nonexistent/x.vmcs"), Throws.ArgumentException.With.Message.StartsWith("--manifest /nonexistent/x.vmcs: " +
            "neither a shipped manifest"));
        Assert.That(() => RunVerify("--manifest", "kvm", "--sequences", "0"),
            Throws.ArgumentException.With.Message.StartsWith("--sequences takes a whole number of sequences from 1 to 1,000,000, got '0'"));
        Assert.That(() => RunVerify("--manifest", "kvm", "--format", "csv"), Throws.ArgumentException.With.Message.StartsWith("--format takes table or json"));
        Assert.That(() => RunVerify(), Throws.ArgumentException.With.Message.EqualTo("verify needs --manifest NAME|FILE"));
    }

    /// <summary>
    /// The advisor's safety check draws the CPU's side from the SDM too: before issue #27 it wrote only fields the manifest
    /// syncs, so a no-sync GUEST_IA32_EFER passed it; now the exit writes EFER (under "save IA32_EFER") and it diverges.
    /// </summary>
    [Test]
    public void TheSafetyCheckCatchesANoSyncFieldTheCpuSaves()
    {
        var compiled = VerifyCommand.Compile("efer.vmcs", Edit("GUEST_IA32_EFER", null, "no-sync"));
        var report = SafetyCheck.Run(compiled.Layout!, 300, seed: 1);
        TestContext.Out.WriteLine(report);
        Assert.That(report.Safe, Is.False);
        Assert.That(report.Divergence, Does.Contain("0x2806="), "an L2 exit saved EFER");
        Assert.That(SafetyCheck.Run(VerifyCommand.Compile("kvm.vmcs", Kvm()).Layout!, 300, seed: 1).Safe, Is.True,
            "the shipped kvm.vmcs is safe under the same sequences");
    }

    /// <summary>Issue #27's example: compare kvm against kvm with GUEST_IA32_EFER no-sync showed a 5-cycle saving.</summary>
    [Test]
    public void CompareRefusesToShowAnUnsoundManifestAsASaving()
    {
        var broken = Path.Combine(Path.GetTempPath(), $"vmcsgen-compare-{Guid.NewGuid():N}.vmcs");
        File.WriteAllText(broken, Edit("GUEST_IA32_EFER", null, "no-sync"));
        var console = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            Assert.That(AdviseCommand.Run("compare", ["kvm", broken, "--rounds", "100"]), Is.EqualTo(AdviseCommand.Refused));
            Assert.That(output.ToString(), Is.Empty, "no cost table");
            Assert.That(error.ToString(), Does.Contain("GUEST_IA32_EFER no-sync").And.Contain("VMCS0126"));
        }
        finally
        {
            Console.SetOut(console.Out);
            Console.SetError(console.Error);
            File.Delete(broken);
        }
    }
}
