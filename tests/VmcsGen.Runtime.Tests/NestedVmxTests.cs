using System;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Nested;
using static VmcsGen.Runtime.Tests.NestedRoundTrips;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The engine's costs for a hand-checked round trip, its allocation-free hot path, its errors, L2's write-throughs and
/// the nested state taken in L2.
/// </summary>
public sealed class NestedVmxTests
{
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
            // entry: 24 RW fields read back from the shadow; exit: the every-exit set from vmcs02 (SyncTests holds it to
            // KVM's sync_vmcs02_to_vmcs12 and prepare_vmcs12)
            Assert.That(c.VmReads, Is.EqualTo(24 + Kvm.ExitSync.EveryExitCount));
            // entry: 20 shadow-rw control/guest fields minus the 2 unchanged control shadows; exit: 24 RW + 11 RO into the
            // shadow, and load_vmcs12_host_state's writes of L1's state into vmcs01 (TransitionTrafficTests derives the
            // number from KVM's function, tests/Reference/kvm-nested-transitions.tsv)
            Assert.That(c.VmWrites, Is.EqualTo(18 + 35 + TransitionTrafficTests.HostStateLoadWrites));
            Assert.That((c.ControlVmWrites, c.FullConsistencyChecks), Is.EqualTo((0L, 0L)), "no major control changed: the control shadows write nothing");
            // copy_shadow_to_vmcs12 (shadow and back), vmx_switch_vmcs to vmcs02 and to vmcs01, copy_vmcs12_to_shadow
            // (shadow and back), each copy ending in a VMCLEAR of the shadow: derived from KVM's functions, not counted here
            Assert.That((c.VmPtrLds, c.VmClears),
                Is.EqualTo(((long)TransitionTrafficTests.VmPtrLdsPerRoundTrip, (long)TransitionTrafficTests.VmClearsPerRoundTrip)));
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
        RoundTrip(engine, CpuidExit);
        var c = engine.Counters - before;

        Assert.Multiple(() =>
        {
            Assert.That(c.L1Exits, Is.EqualTo(1));
            Assert.That(c.VmReads, Is.EqualTo(34 + Kvm.ExitSync.EveryExitCount + 35 + 6),
                "34 RW fields back from the shadow; from vmcs02 today's every-exit set, the 35 rare fields and the 6 fields written through at WRMSR since " +
                    "2019 (SyncTests)");
            Assert.That(c.RuntimeLookups, Is.EqualTo(34 + 34), "vmcs12_read_any/write_any: 34 RW fields back on entry, the same 34 out after the exit (no RO " +
                "field in 2018)");
            Assert.That(c.VcpuStateSwitches, Is.EqualTo(2), "put/load on the switch to vmcs02 and back");
            Assert.That(c.FullConsistencyChecks, Is.EqualTo(1), "controls rewritten on every entry");
        });
    }

    [Test]
    public void BeforeDirtyTrackingEveryEntryPreparesVmcs02InFull()
    {
        // Linux 4.15's prepare_vmcs02 (before 74a497fae754) wrote every field of vmcs02 from vmcs12 on every entry; with
        // dirty tracking only the shadowed fields are written when L1 changed nothing else. The difference is the
        // manifest's non-shadowed control and guest-state fields, plus the link pointer L0 puts back after them.
        var nonShadowedEntryFields = Kvm2018.Layout.Fields.ToArray().Count(f => f.Type is FieldType.Control or FieldType.GuestState
            && f.Class != FieldClass.ShadowRw);
        var full = Kvm2018RoundTrip(new NestedVmxOptions { PrepareFullVmcs02EveryEntry = true });
        Assert.That(full.VmWrites - Kvm2018RoundTrip(new NestedVmxOptions()).VmWrites, Is.EqualTo(nonShadowedEntryFields + 1));
    }

    [Test]
    public void TheShadowCopyBefore44900ba65e16DispatchesTwicePerField()
    {
        long Lookups(bool widthSwitch) =>
            Kvm2018RoundTrip(new NestedVmxOptions { RuntimeOffsetLookup = true, ShadowCopyWidthSwitch = widthSwitch }).RuntimeLookups;

        Assert.That((Lookups(false), Lookups(true)), Is.EqualTo((34L + 34, 2L * (34 + 34))), "34 RW fields back on entry, the same 34 out after the exit");
    }

    [Test]
    public void Pre2019EntriesWriteWhatTheSeriesRemoved()
    {
        // "KVM: nVMX: Don't rewrite GUEST_PML_INDEX during nested VM-Entry", "Write ENCLS-exiting bitmap once per vmcs02",
        // "Don't speculatively write virtual-APIC page address / APIC-access page address", "Copy PDPTRs to/from vmcs12
        // only when necessary" (2019-05-07): before them, every nested entry wrote these 8 fields of vmcs02.
        var pre2019 = Kvm2018RoundTrip(new NestedVmxOptions { Pre2019VmcsTraffic = true });
        Assert.That(pre2019.VmWrites - Kvm2018RoundTrip(new NestedVmxOptions()).VmWrites, Is.EqualTo(8));
    }

    [Test]
    public void ANestedExitLoadsL1sStateFromVmcs12IntoVmcs01()
    {
        // SDM 27.5 / nested.c load_vmcs12_host_state: after the exit L1 runs at vmcs12's HOST_RIP with HOST_CR3, its CS
        // selector from HOST_CS_SELECTOR, RFLAGS = 2 and DR7 = 0x400.
        var (engine, cpu) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>();
        engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
        engine.L1VmPtrLd(Region);
        engine.L1VmWrite(0x6C16, 0xFFFF_FFFF_A012_3456); // HOST_RIP
        engine.L1VmWrite(0x6C02, 0x2A5_8000); // HOST_CR3
        engine.L1VmWrite(0x0C02, 0x10); // HOST_CS_SELECTOR
        engine.L1VmLaunch();
        engine.L2Exit(CpuidExit);

        var vmcs01 = cpu.Vmcs;
        Assert.That(vmcs01.VmPtrLd(SoftwareNested.Vmcs01).IsSuccess);
        ulong Read(uint encoding) => vmcs01.VmRead(encoding, out var v).IsSuccess ? v : throw new AssertionException($"VMREAD 0x{encoding:X4}");
        Assert.That((Read(0x681E), Read(0x6802), Read(0x0802), Read(0x6820), Read(0x681A)),
            Is.EqualTo((0xFFFF_FFFF_A012_3456ul, 0x2A5_8000ul, 0x10ul, 2ul, 0x400ul)));
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

    /// <summary>
    /// KVM's vmx_set_msr: an L2 WRMSR of SYSENTER_CS/PAT that L1 does not intercept goes into vmcs02 and, written through,
    /// into vmcs12. GUEST_SYSENTER_CS and GUEST_IA32_PAT are no-sync in fields/kvm.vmcs, so without the write-through L1
    /// would read the value from before L2 ran.
    /// </summary>
    [Test]
    public void AWriteThroughOfANoSyncFieldReachesL1()
    {
        var engine = Running();
        Assert.That(engine.L1VmResume(), Is.EqualTo(VmxResult.Succeed));
        engine.L2WriteThrough(0x482A, 0x10);
        engine.L2WriteThrough(0x2804, 0x0007_0406_0007_0406);
        engine.L2Exit(CpuidExit);
        Assert.That(engine.L1VmRead(0x482A, out var cs), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmRead(0x2804, out var pat), Is.EqualTo(VmxResult.Succeed));
        Assert.That((cs, pat), Is.EqualTo((0x10UL, 0x0007_0406_0007_0406UL)));
        Assert.Throws<InvalidOperationException>(() => engine.L2WriteThrough(0x482A, 1));
    }

    /// <summary>
    /// KVM_SET_NESTED_STATE with the guest in L2 (set_nested_state → nested_vmx_enter_non_root_mode): the engine prepares
    /// vmcs02 in full from the imported vmcs12 and runs L2; the next exit reaches L1 as usual. Exporting a state taken
    /// in L2 and importing it into a fresh engine gives back the same vmcs12 bytes.
    /// </summary>
    [Test]
    public void AStateExportedInL2ImportsIntoAFreshEngineAndRuns()
    {
        var source = Running();
        Assert.That(source.L1VmWrite(0x6820, 0x202), Is.EqualTo(VmxResult.Succeed)); // GUEST_RFLAGS
        Assert.That(source.L1VmResume(), Is.EqualTo(VmxResult.Succeed));
        var state = source.ExportNestedState();
        Assert.That(state.InL2 && state.VmxonPointer == 0x1000, Is.True);

        var (target, processor) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>();
        target.ImportNestedState(state);
        Assert.That(target.InL2, Is.True);
        Assert.That(processor.CurrentPointer, Is.EqualTo(target.Vmcs02), "L2 runs on vmcs02");
        Assert.That(target.ExportNestedState().Vmcs12, Is.EqualTo(state.Vmcs12));
        target.L2Exit(CpuidExit);
        Assert.That(target.L1VmRead(0x6820, out var rflags), Is.EqualTo(VmxResult.Succeed));
        Assert.That(target.L1VmRead(0x4402, out var reason), Is.EqualTo(VmxResult.Succeed));
        Assert.That((rflags, reason), Is.EqualTo((0x202UL, 10UL)));
        Assert.Throws<ArgumentException>(() => target.ImportNestedState(state with { Vmcs12 = new byte[3] }));
        // vmx_set_nested_state's -EINVAL cases (KVM selftest vmx_set_nested_state_test): vmcs12 at the VMXON region, an
        // unaligned VMXON pointer, a current vmcs12 outside VMX operation. The engine keeps running L1 as before.
        Assert.Throws<ArgumentException>(() => target.ImportNestedState(state with { CurrentVmcs12 = 0x1000 }));
        Assert.Throws<ArgumentException>(() => target.ImportNestedState(state with { VmxonPointer = 0x1001 }));
        Assert.Throws<ArgumentException>(() => target.ImportNestedState(state with { VmxonPointer = ulong.MaxValue, InL2 = false }));
        Assert.That(target.L1VmRead(0x6820, out rflags), Is.EqualTo(VmxResult.Succeed));
        Assert.That(rflags, Is.EqualTo(0x202UL));
    }

    /// <summary>The counters are declared once (NestedCounters' properties); subtraction covers each of them, whatever is added.</summary>
    [Test]
    public void SubtractingSnapshotsCoversEveryCounter()
    {
        var properties = typeof(NestedCounters).GetProperties().Where(p => p.CanWrite && p.PropertyType == typeof(long)).ToArray();
        Assert.That(properties, Has.Length.EqualTo(System.Runtime.CompilerServices.Unsafe.SizeOf<NestedCounters>() / sizeof(long)),
            "nothing but the counters in the struct");
        object later = new NestedCounters(), earlier = new NestedCounters();
        for (var i = 0; i < properties.Length; i++)
        {
            properties[i].SetValue(later, 1000L + (i * 7));
            properties[i].SetValue(earlier, (long)i);
        }

        var difference = (NestedCounters)later - (NestedCounters)earlier;
        for (var i = 0; i < properties.Length; i++)
        {
            Assert.That(properties[i].GetValue(difference), Is.EqualTo(1000L + (i * 6)), properties[i].Name);
        }
    }
}
