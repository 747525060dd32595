using System;
using NUnit.Framework;
using VmcsGen.Nested;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;

namespace VmcsGen.Runtime.Tests;

/// <summary>The engine's costs for a hand-checked round trip, its allocation-free hot path, and its errors.</summary>
public sealed class NestedVmxTests
{
    private const ulong Region = 0x20000;

    private static readonly FieldWrite[] CpuidExit =
    [
        new(0x4402, 10), new(0x440C, 2), new(0x6400, 0), new(0x681E, 0x1002), new(0x681C, 0x8000),
    ];

    private static NestedVmx<Kvm.Layout, Kvm.ControlShadows, Software.SoftwareVmcs> Running(NestedVmxOptions? options = null)
    {
        var (engine, _) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(options);
        engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
        engine.L2Exit(CpuidExit);
        return engine;
    }

    /// <summary>L1 handles a CPUID exit as KVM does (reads reason, length, RIP; writes RIP) and resumes L2.</summary>
    private static void RoundTrip(NestedVmx<Kvm.Layout, Kvm.ControlShadows, Software.SoftwareVmcs> engine, FieldWrite[] exit)
    {
        engine.L1VmRead(0x4402, out _);
        engine.L1VmRead(0x440C, out _);
        engine.L1VmRead(0x681E, out var rip);
        engine.L1VmWrite(0x681E, rip + 2);
        engine.L1VmResume();
        engine.L2Exit(exit);
    }

    [Test]
    public void ASteadyRoundTripUnderKvmCostsWhatTheClassesImply()
    {
        var engine = Running();
        var before = engine.Counters;
        RoundTrip(engine, CpuidExit);
        var c = engine.Counters - before;

        Assert.Multiple(() =>
        {
            Assert.That(c.L1Exits, Is.EqualTo(1), "only VMRESUME exits: the reads and the RIP write go to the shadow VMCS");
            Assert.That((c.ShadowedVmreads, c.ShadowedVmwrites), Is.EqualTo((3L, 1L)));
            // entry: 24 RW fields read back from the shadow; exit: the 32-field every-exit set from vmcs02
            Assert.That(c.VmReads, Is.EqualTo(24 + 32));
            // entry: 20 shadow-rw control/guest fields minus the 2 unchanged control shadows; exit: 24 RW + 11 RO into the shadow
            Assert.That(c.VmWrites, Is.EqualTo(18 + 35));
            Assert.That((c.ControlVmWrites, c.FullConsistencyChecks), Is.EqualTo((0L, 0L)), "no major control changed: the control shadows write nothing");
            // shadow (flush) and back, vmcs02, vmcs01, shadow (refresh) and back
            Assert.That((c.VmPtrLds, c.VmClears), Is.EqualTo((6L, 2L)));
            Assert.That((c.NestedEntries, c.NestedExits, c.RareSyncs, c.VcpuStateSwitches), Is.EqualTo((1L, 1L, 0L, 0L)));
        });
    }

    [Test]
    public void TheSameRoundTripUnderKvm2018WithPre2019Behaviour()
    {
        var (engine, _) = SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>(
            new NestedVmxOptions { RuntimeOffsetLookup = true, RewriteControlsEveryEntry = true, PutVcpuOnVmcsSwitch = true });
        engine.Memory.CreateRegion(Region, Kvm2018.Vmcs12.Revision);
        engine.L1VmPtrLd(Region);
        engine.L1VmLaunch();
        engine.L2Exit(CpuidExit);
        var before = engine.Counters;
        engine.L1VmRead(0x4402, out _);
        engine.L1VmRead(0x440C, out _);
        engine.L1VmRead(0x681E, out var rip);
        engine.L1VmWrite(0x681E, rip + 2);
        engine.L1VmResume();
        engine.L2Exit(CpuidExit);
        var c = engine.Counters - before;

        Assert.Multiple(() =>
        {
            Assert.That(c.L1Exits, Is.EqualTo(1));
            Assert.That(c.VmReads, Is.EqualTo(34 + 73), "34 RW fields back from the shadow, 73 fields from vmcs02");
            Assert.That(c.VcpuStateSwitches, Is.EqualTo(2), "put/load on the switch to vmcs02 and back");
            Assert.That(c.FullConsistencyChecks, Is.EqualTo(1), "controls rewritten on every entry");
        });
    }

    [Test]
    public void ARoundTripAllocatesNothing()
    {
        var engine = Running();
        for (var i = 0; i < 200; i++)
        {
            RoundTrip(engine, CpuidExit);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            RoundTrip(engine, CpuidExit);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void MisuseIsAnExceptionThatSaysWhat()
    {
        var engine = Running();
        Assert.That(() => engine.L2Exit([]), Throws.InvalidOperationException.With.Message.Contains("L2 is not running"));
        engine.L1VmResume();
        Assert.That(() => engine.L1VmRead(0x681E, out _), Throws.InvalidOperationException.With.Message.Contains("L2Exit first"));
        Assert.That(() => engine.L2Exit([new FieldWrite(0x8000, 1)]), Throws.ArgumentException.With.Message.Contains("0x8000"));
    }

    [Test]
    public void L1CannotLoseVmwriteAnyWhileExitInformationIsShadowedReadWrite()
    {
        Assert.That(
            () => SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>(new NestedVmxOptions { L1VmwriteAny = false }),
            Throws.ArgumentException.With.Message.Contains("GUEST_PHYSICAL_ADDRESS (0x2400)"));
        Assert.That(() => SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { L1VmwriteAny = false }), Throws.Nothing);
    }

    [Test]
    public void VmfailValidStoresTheErrorInVmcs12WhereL1ReadsIt()
    {
        var engine = Running();
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmlaunchNonClearVmcs)));
        Assert.That(engine.L1VmRead(0x4400, out var error), Is.EqualTo(VmxResult.Succeed));
        Assert.That(error, Is.EqualTo(4ul));
    }
}
