using System;
using System.Linq;
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
            Assert.That((c.VmPtrLds, c.VmClears), Is.EqualTo(((long)TransitionTrafficTests.VmPtrLdsPerRoundTrip, (long)TransitionTrafficTests.VmClearsPerRoundTrip)));
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
            Assert.That(c.VmReads, Is.EqualTo(34 + Kvm.ExitSync.EveryExitCount + 35 + 6),
                "34 RW fields back from the shadow; from vmcs02 today's every-exit set, the 35 rare fields and the 6 fields written through at WRMSR since 2019 (SyncTests)");
            Assert.That(c.RuntimeLookups, Is.EqualTo(34 + 34), "vmcs12_read_any/write_any: 34 RW fields back on entry, the same 34 out after the exit (no RO field in 2018)");
            Assert.That(c.VcpuStateSwitches, Is.EqualTo(2), "put/load on the switch to vmcs02 and back");
            Assert.That(c.FullConsistencyChecks, Is.EqualTo(1), "controls rewritten on every entry");
        });
    }

    /// <summary>vmcs02 VMWRITEs of one steady-state CPUID round trip of the kvm-2018 engine with these options.</summary>
    private static long Kvm2018VmWritesPerRoundTrip(NestedVmxOptions options)
    {
        var (engine, _) = SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>(options);
        engine.Memory.CreateRegion(Region, Kvm2018.Vmcs12.Revision);
        engine.L1VmPtrLd(Region);
        engine.L1VmLaunch();
        engine.L2Exit(CpuidExit);
        var before = engine.Counters;
        engine.L1VmResume();
        engine.L2Exit(CpuidExit);
        return (engine.Counters - before).VmWrites;
    }

    [Test]
    public void BeforeDirtyTrackingEveryEntryPreparesVmcs02InFull()
    {
        // Linux 4.15's prepare_vmcs02 (before 74a497fae754) wrote every field of vmcs02 from vmcs12 on every entry; with
        // dirty tracking only the shadowed fields are written when L1 changed nothing else. The difference is the
        // manifest's non-shadowed control and guest-state fields, plus the link pointer L0 puts back after them.
        var nonShadowedEntryFields = Kvm2018.Layout.Fields.ToArray().Count(f => f.Type is FieldType.Control or FieldType.GuestState && f.Class != FieldClass.ShadowRw);
        Assert.That(Kvm2018VmWritesPerRoundTrip(new NestedVmxOptions { PrepareFullVmcs02EveryEntry = true }) - Kvm2018VmWritesPerRoundTrip(new NestedVmxOptions()), Is.EqualTo(nonShadowedEntryFields + 1));
    }

    [Test]
    public void TheShadowCopyBefore44900ba65e16DispatchesTwicePerField()
    {
        long Lookups(bool widthSwitch)
        {
            var (engine, _) = SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>(new NestedVmxOptions { RuntimeOffsetLookup = true, ShadowCopyWidthSwitch = widthSwitch });
            engine.Memory.CreateRegion(Region, Kvm2018.Vmcs12.Revision);
            engine.L1VmPtrLd(Region);
            engine.L1VmLaunch();
            engine.L2Exit(CpuidExit);
            var before = engine.Counters;
            engine.L1VmResume();
            engine.L2Exit(CpuidExit);
            return (engine.Counters - before).RuntimeLookups;
        }

        Assert.That((Lookups(false), Lookups(true)), Is.EqualTo((34L + 34, 2L * (34 + 34))), "34 RW fields back on entry, the same 34 out after the exit");
    }

    [Test]
    public void Pre2019EntriesWriteWhatTheSeriesRemoved()
    {
        // "KVM: nVMX: Don't rewrite GUEST_PML_INDEX during nested VM-Entry", "Write ENCLS-exiting bitmap once per vmcs02",
        // "Don't speculatively write virtual-APIC page address / APIC-access page address", "Copy PDPTRs to/from vmcs12
        // only when necessary" (2019-05-07): before them, every nested entry wrote these 8 fields of vmcs02.
        Assert.That(Kvm2018VmWritesPerRoundTrip(new NestedVmxOptions { Pre2019VmcsTraffic = true }) - Kvm2018VmWritesPerRoundTrip(new NestedVmxOptions()), Is.EqualTo(8));
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

    [TestCase(true, TestName = "L1 may VMPTRLD a shadow-VMCS region when L0 offers shadowing (handle_vmptrld)")]
    [TestCase(false, TestName = "without shadowing for L1 the shadow bit is a bad revision (11)")]
    public void AShadowBitInL1sRegion(bool l1Shadowing)
    {
        foreach (var engine in new INestedEngine[]
        {
            SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { L1VmcsShadowing = l1Shadowing }).Engine,
            SoftwareNested.CreateReference<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { L1VmcsShadowing = l1Shadowing }),
        })
        {
            engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
            Assert.That(engine.Memory.TryGet(Region, out var image));
            image[3] |= 0x80;
            var result = engine.L1VmPtrLd(Region);
            Assert.That(result, Is.EqualTo(l1Shadowing ? VmxResult.Succeed : VmxResult.FailInvalid), engine.GetType().Name);
        }
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
    /// <summary>
    /// SDM VMXON pseudocode and KVM's handle_vmxon: VMXON in VMX operation is VMfail(15), recorded in vmcs12's
    /// VM_INSTRUCTION_ERROR where L1 reads it; kvm-unit-tests x86/vmx.c (test_vmxon) expects VMfailInvalid for a
    /// misaligned pointer, one beyond MAXPHYADDR, or a region without the VMCS revision, and success for a good one.
    /// </summary>
    [Test]
    public void VmxonFollowsTheSdmInAndOutOfVmxOperation()
    {
        var engine = Running();
        engine.Memory.CreateRegion(0x40000, Kvm.Vmcs12.Revision);
        engine.Memory.CreateRegion(0x41000, Kvm.Vmcs12.Revision ^ 1);
        Assert.Multiple(() =>
        {
            Assert.That(engine.L1VmxOn(0x40000), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmxonInVmxRootOperation)));
            Assert.That(engine.L1VmRead(0x4400, out var error), Is.EqualTo(VmxResult.Succeed));
            Assert.That(error, Is.EqualTo(15));
            Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.Succeed));
            Assert.That(engine.L1VmxOn(0x40010), Is.EqualTo(VmxResult.FailInvalid), "misaligned");
            Assert.That(engine.L1VmxOn(1UL << 46), Is.EqualTo(VmxResult.FailInvalid), "beyond MAXPHYADDR");
            Assert.That(engine.L1VmxOn(0x41000), Is.EqualTo(VmxResult.FailInvalid), "wrong revision");
            Assert.That(engine.L1VmxOn(0x50000), Is.EqualTo(VmxResult.FailInvalid), "no region there");
            Assert.That(engine.L1VmxOn(0x40000), Is.EqualTo(VmxResult.Succeed));
            Assert.That(engine.L1VmPtrLd(0x40000), Is.EqualTo(VmxResult.FailInvalid), "VMPTRLD of the VMXON pointer, no current VMCS: VMfailInvalid");
        });
    }

    /// <summary>
    /// KVM's handle_vmxoff → free_nested and nested_vmx_check_permission: after VMXOFF the current vmcs12 is gone (VMPTRST
    /// would give -1 after a new VMXON, SDM VMXON: "current-VMCS pointer ← FFFFFFFF_FFFFFFFFH") and every other VMX
    /// instruction is #UD; VMCS shadowing is off, so L1's VMREAD of a shadowed field exits instead of reading stale data.
    /// </summary>
    [Test]
    public void AfterVmxoffVmxInstructionsAreInvalidOpcodes()
    {
        var engine = Running();
        Assert.That(engine.L1VmPtrSt(out var pointer), Is.EqualTo(VmxResult.Succeed));
        Assert.That(pointer, Is.EqualTo(Region));
        Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.Succeed));
        var before = engine.Counters;
        Assert.Multiple(() =>
        {
            Assert.That(engine.L1VmRead(0x4402, out _), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmWrite(0x681E, 1), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmClear(Region), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmResume(), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmPtrSt(out _), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That((engine.Counters - before).ShadowedVmreads, Is.Zero, "the VMREAD exited: shadowing is off");
            Assert.That(engine.L1VmxOn(0x1000), Is.EqualTo(VmxResult.FailInvalid), "no VMXON region was created at 0x1000");
        });
        engine.Memory.CreateRegion(0x1000, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmxOn(0x1000), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmPtrSt(out pointer), Is.EqualTo(VmxResult.Succeed));
        Assert.That(pointer, Is.EqualTo(ulong.MaxValue));
        Assert.That(engine.L1VmRead(0x4402, out _), Is.EqualTo(VmxResult.FailInvalid), "no current VMCS");
    }

    /// <summary>
    /// SDM VMREAD/VMWRITE in VMX non-root operation with VMCS shadowing: "bits 63:15 of the register source operand not all
    /// 0" cause a VM exit even for a field the bitmap shadows; KVM's get_vmcs12_field_offset then finds no field: VMfail(12).
    /// </summary>
    [Test]
    public void AnEncodingWithHighBitsSetExitsAndFailsWith12()
    {
        var engine = Running();
        var before = engine.Counters;
        Assert.That(engine.L1VmRead(0x1_0000_4402, out _), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        Assert.That(engine.L1VmWrite(0x8000_0000_0000_681E, 1), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        var c = engine.Counters - before;
        Assert.That((c.ExitsVmread, c.ExitsVmwrite, c.ShadowedVmreads), Is.EqualTo((1L, 1L, 0L)));
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
    // ---- L0's checks of vmcs12 at a nested entry (NestedVmxOptions.Vmcs12EntryChecks: the processor's VmEntryChecks)

    /// <summary>L1 fills vmcs12 with a state that passes every modelled check on the KVM profile.</summary>
    private static NestedVmx<Kvm.Layout, Kvm.ControlShadows, Software.SoftwareVmcs> CheckedEngine()
    {
        var (engine, _) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { Vmcs12EntryChecks = Software.VmxProfile.Kvm });
        engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.Succeed));
        foreach (var (field, value) in ValidEntryState.For(Software.VmxProfile.Kvm))
        {
            Assert.That(engine.L1VmWrite(field, value), Is.EqualTo(VmxResult.Succeed), $"0x{field:X4}");
        }

        return engine;
    }

    [Test]
    public void WithEntryChecksAValidVmcs12Runs()
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.InL2, Is.True);
    }

    /// <summary>
    /// kvm-unit-tests x86/vmx_tests.c (vmx_controls_test, vmx_host_state_area_test) and KVM's nested_vmx_check_controls /
    /// nested_vmx_check_host_state: a control field against L1's capability MSRs is VMfailValid(7), host state (SDM
    /// 26.2.2-26.2.4) VMfailValid(8); L1 reads the number from VM_INSTRUCTION_ERROR and L2 never ran. The values were
    /// written through the shadow VMCS, so the checks see them only because the shadow is flushed first (nested_vmx_run).
    /// </summary>
    [TestCase(0x4000u, 0ul, VmxInstructionError.EntryInvalidControlField, TestName = "pin-based controls without their must-be-one bits: 7")]
    [TestCase(0x6C00u, 0x8005_0032ul, VmxInstructionError.EntryInvalidHostStateField, TestName = "host CR0 without PE: 8")]
    [TestCase(0x6C16u, 0x0000_8000_0000_0000ul, VmxInstructionError.EntryInvalidHostStateField, TestName = "a non-canonical host RIP: 8")]
    public void ABadControlOrHostFieldIsAVmfail(uint field, ulong value, VmxInstructionError error)
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmWrite(field, value), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.FailValid(error)));
        Assert.That(engine.InL2, Is.False);
        Assert.That(engine.L1VmRead(0x4400, out var number), Is.EqualTo(VmxResult.Succeed));
        Assert.That(number, Is.EqualTo((ulong)error));
        Assert.That(engine.Counters.NestedEntries, Is.Zero);
    }

    /// <summary>
    /// kvm-unit-tests vmx_guest_state_area_test and KVM's nested_vmx_enter_non_root_mode (vmentry_fail_vmexit): a guest
    /// state check failure is no VMfail but a VM exit to L1 with reason 33 | 0x80000000 (SDM 26.8); prepare_vmcs12 sets
    /// the launch state only for a real exit, so VMRESUME afterwards is VMfailValid(5) and a corrected VMLAUNCH runs L2.
    /// </summary>
    [Test]
    public void ABadGuestFieldIsAnEntryFailureExitToL1()
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmWrite(0x6820, 0), Is.EqualTo(VmxResult.Succeed)); // RFLAGS bit 1 clear
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.EntryFailure));
        Assert.That(engine.InL2, Is.False);
        Assert.That(engine.L1VmRead(0x4402, out var reason), Is.EqualTo(VmxResult.Succeed));
        Assert.That(reason, Is.EqualTo(0x8000_0021UL), "read through the shadow VMCS: refreshed after the failure");
        Assert.That(engine.Counters.EntryFailures, Is.EqualTo(1));
        Assert.That(engine.L1VmResume(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmresumeNonLaunchedVmcs)));
        Assert.That(engine.L1VmWrite(0x6820, 2), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
    }

    /// <summary>The counters are declared once (NestedCounters' properties); subtraction covers each of them, whatever is added.</summary>
    [Test]
    public void SubtractingSnapshotsCoversEveryCounter()
    {
        var properties = typeof(NestedCounters).GetProperties().Where(p => p.CanWrite && p.PropertyType == typeof(long)).ToArray();
        Assert.That(properties, Has.Length.EqualTo(System.Runtime.CompilerServices.Unsafe.SizeOf<NestedCounters>() / sizeof(long)), "nothing but the counters in the struct");
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
