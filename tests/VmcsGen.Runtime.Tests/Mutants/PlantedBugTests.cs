using System.Diagnostics;
using NUnit.Framework;
using VmcsGen.Nested;
using static VmcsGen.Runtime.Tests.EquivalenceProperty;
using Kvm = VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests.Mutants;

/// <summary>
/// The equivalence property catches bugs planted in the engine: each is one edit of the shipped engine's source
/// (<see cref="EngineMutation"/>), compiled in memory (<see cref="MutantEngine"/>). Each test first shows the edit changes
/// the source (a mutation that planted nothing would fail here, and then again where the property finds no divergence).
/// </summary>
public sealed class PlantedBugTests
{
    [Test]
    public void SkippingTheRareSyncBeforeDirtyingIsCaught()
    {
        var failure = CheckMutant(EngineMutation.SkipRareSyncBeforeDirty, Sequences);
        Assert.That(failure, Is.Not.Null, "the planted bug must make the engines diverge");
        Assert.That(failure, Does.Contain("L2 exit").And.Contain("VMWRITE"), "the minimal sequence: a rare field changes in L2, then a trapped VMWRITE");
        TestContext.Out.WriteLine("Minimal failing sequence found:\n" + failure);
    }

    [Test]
    public void ForgettingTheShadowFlushOnVmclearIsCaught()
    {
        var failure = CheckMutant(EngineMutation.SkipShadowFlushOnVmclear, Sequences);
        Assert.That(failure, Is.Not.Null, "the planted bug must make the engines diverge");
        Assert.That(failure, Does.Contain("VMCLEAR"), "the minimal sequence ends the vmcs12 with VMCLEAR");
        TestContext.Out.WriteLine("Minimal failing sequence found:\n" + failure);
    }

    /// <summary>
    /// KVM bugs that forgot a field in the nested exit's save (the regression table in docs/KVM-REGRESSIONS.md), planted
    /// in the engine: the property, whose CPU side comes from the SDM and not from the manifest, must catch each.
    /// </summary>
    [TestCase(0x4826u, TestName = "ForgettingGUEST_ACTIVITY_STATEOnExitIsCaught")]
    [TestCase(0x640Au, TestName = "ForgettingGUEST_LINEAR_ADDRESSOnExitIsCaught")]
    [TestCase(0x2806u, TestName = "ForgettingGUEST_IA32_EFEROnExitIsCaught")]
    [TestCase(0x681Au, TestName = "ForgettingGUEST_DR7OnExitIsCaught")]
    [TestCase(0x0810u, TestName = "ForgettingGUEST_INTR_STATUSOnExitIsCaught")]
    [TestCase(0x4824u, TestName = "ForgettingGUEST_INTERRUPTIBILITY_INFOOnExitIsCaught")]
    public void AnEngineThatForgetsAnExitSavedFieldIsCaught(uint encoding)
    {
        var failure = CheckMutant(EngineMutation.ForgetOnExit(encoding), Sequences);
        Assert.That(failure, Is.Not.Null, "the planted bug must make the engines diverge");
        // Two minimal shapes show the forgotten save, and the random search may find either: an L2 exit that changes the
        // field ("0xNNNN=" in the exit), or L1 writing the field before an exit whose save the engine skips ("0xNNNN <-").
        Assert.That(failure, Does.Contain("L2 exit"), "the minimal sequence has an L2 exit");
        Assert.That(failure, Does.Contain($"0x{encoding:X4}=").Or.Contain($"0x{encoding:X4} <-"), "the minimal sequence names the forgotten field");
        TestContext.Out.WriteLine("Minimal failing sequence found:\n" + failure);
    }

    [Test]
    public void ForgettingAFieldL0KeepsCurrentIsNoBug()
    {
        // GUEST_IA32_PAT is no-sync in kvm.vmcs (KVM writes L2's WRMSR through): the exit never reads it, so "forgetting"
        // it changes nothing, and the property must not cry wolf.
        Assert.That(CheckMutant(EngineMutation.ForgetOnExit(0x2804), Sequences / 5), Is.Null);
    }

    [Test]
    public void AMutationThatNoLongerFitsTheEngineIsAnError()
    {
        var stale = EngineMutation.SkipRareSyncBeforeDirty with { Original = "SyncRareFieldsFirst();" };
        Assert.That(() => stale.Apply(MutantEngine.Sources), Throws.InvalidOperationException.With.Message.Contains("is not in the member"));
        var unknown = EngineMutation.SkipRareSyncBeforeDirty with { Member = "public VmxResult L1VmWriteAll(" };
        Assert.That(() => unknown.Apply(MutantEngine.Sources), Throws.InvalidOperationException.With.Message.Contains("must occur once"));
    }

    /// <summary>The property on the kvm.vmcs engine built with <paramref name="mutation"/>, which must change the source.</summary>
    private static string? CheckMutant(EngineMutation mutation, int iterations)
    {
        Assert.That(mutation.Apply(MutantEngine.Sources), Is.Not.EqualTo(MutantEngine.Sources), $"{mutation.Name} changes the engine's source");
        var clock = Stopwatch.StartNew();
        var mutant = MutantEngine.Factory<Kvm.Layout, Kvm.ControlShadows>(mutation);
        TestContext.Out.WriteLine($"{mutation.Name}: compiled and loaded in {clock.ElapsedMilliseconds} ms");
        return Check<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions(), iterations, vmwriteAnyVaries: false, underTest: mutant);
    }
}
