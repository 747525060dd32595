using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;
using Minimal = VmcsGen.Layouts.Minimal;

namespace VmcsGen.Runtime.Tests;

/// <summary>The generated exit and entry sides, measured with SoftwareVmx counters.</summary>
public sealed class SyncTests
{
    private const ulong Vmcs02 = 0x2000;

    /// <summary>
    /// KVM's every-exit set, not the manifest's: the rows of tests/Reference/vmcs-fields.tsv whose notes say
    /// <c>exit-sync</c>, which the reference notes took from nested.c's <c>sync_vmcs02_to_vmcs12</c> (guest state read back
    /// on every nested exit, some under a condition the engine does not model, e.g. EFER under "save IA32_EFER") and
    /// <c>prepare_vmcs12</c> (exit information). GUEST_PML_INDEX is not among them: KVM keeps vmcs12's in software
    /// (<c>nested_vmx_write_pml_buffer</c>) and vmcs02's is L0's own. One exit-sync row is left out because it is a control:
    /// VM_ENTRY_CONTROLS, of which KVM updates only the IA-32e-mode-guest bit (not modelled: the engine copies no control back).
    /// </summary>
    private static string[] KvmEveryExit() =>
        Reference.Fields()
            .Where(f => !f.Name.EndsWith("_HIGH", StringComparison.Ordinal) && f.Row["type"] is "guest" or "exit-info" && f.Row["notes"].Contains("exit-sync",
                StringComparison.Ordinal))
            .Select(f => f.Name).ToArray();

    /// <summary>
    /// Exit-information fields the engine reads back on every exit although KVM writes them only on some exits and in other
    /// functions (tests/Reference/vmcs-fields.tsv notes: GUEST_PHYSICAL_ADDRESS "set by nested EPT fault injection",
    /// VM_EXIT_INTR_ERROR_CODE "set on reflected exits/#PF injection"): a conservative superset, one VMREAD each.
    /// </summary>
    private static readonly string[] ConservativeExtra = ["GUEST_PHYSICAL_ADDRESS", "VM_EXIT_INTR_ERROR_CODE"];

    /// <summary>Guest fields KVM writes through to vmcs12 at the intercepted WRMSR since 2019 (2022 for BNDCFGS) instead of reading them back.</summary>
    private static readonly string[] WrittenThroughSince2019 =
        ["GUEST_IA32_DEBUGCTL", "GUEST_IA32_PAT", "GUEST_SYSENTER_CS", "GUEST_SYSENTER_ESP", "GUEST_SYSENTER_EIP", "GUEST_BNDCFGS"];

    private static (SoftwareVmx Cpu, SoftwareVmcs Vmcs) LoadedVmcs02()
    {
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(Vmcs02);
        Assert.That(cpu.VmPtrLd(Vmcs02), Is.EqualTo(VmxResult.Succeed));
        var random = new Random(12);
        for (uint e = 0; e < 0x8000; e += 2)
        {
            if (cpu.Catalog.Supports(e) && VmcsEncoding.Type(e) != FieldType.ExitInformation)
            {
                cpu.VmWrite(e, (ulong)random.NextInt64());
            }
        }

        cpu.ResetCounters();
        return (cpu, cpu.Vmcs);
    }

    private static HashSet<uint> ReadEncodings(SoftwareVmx cpu) =>
        Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => cpu.ReadsOf(e) > 0).ToHashSet();

    private static uint Encoding(string name) => Reference.Fields().Single(f => f.Name == name).Encoding;

    [Test]
    public void ANestedExitReadsExactlyKvmsEveryExitSetFromVmcs02()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Kvm.Vmcs12.Create();
        var sync = default(Kvm.ExitSync);

        Assert.That(Kvm.ExitSync.SyncVmcs02ToVmcs12(ref vmcs02, ref vmcs12, Kvm.Features.All), Is.EqualTo(VmxResult.Succeed));
        sync.MarkRareStale();

        var expected = KvmEveryExit().Concat(ConservativeExtra).ToArray();
        Assert.That(KvmEveryExit(), Does.Not.Contain("GUEST_PML_INDEX").And.Contain("GUEST_RIP").And.Contain("VM_EXIT_REASON"));
        Assert.That(cpu.Counters, Is.EqualTo(new VmcsCounters(expected.Length, 0, 0, 0, 0)));
        Assert.That(ReadEncodings(cpu), Is.EquivalentTo(expected.Select(Encoding)));
        Assert.That(Kvm.ExitSync.EveryExitCount, Is.EqualTo(expected.Length));
        Assert.That(cpu.ReadsOf(0x0812), Is.Zero, "GUEST_PML_INDEX is never read back: vmcs02's is L0's own");
        Assert.That(vmcs12.GuestRip, Is.EqualTo(cpu.Peek(Vmcs02, 0x681E)), "values arrive");
        Assert.That(sync.RareStale, Is.True);
    }

    [Test]
    public void TheRareSetIsReadOnceWhenFirstNeededAndThenNotAgain()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Kvm.Vmcs12.Create();
        var sync = default(Kvm.ExitSync);
        var rare = Reference.Fields().Where(f => f.Row["kvm_rare"] == "yes").Select(f => f.Encoding).ToList();

        Assert.That(sync.EnsureRareSynced(ref vmcs02, ref vmcs12, Kvm.Features.All), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.Counters.VmReads, Is.Zero, "nothing is stale before an exit");

        sync.MarkRareStale();
        sync.EnsureRareSynced(ref vmcs02, ref vmcs12, Kvm.Features.All);
        sync.EnsureRareSynced(ref vmcs02, ref vmcs12, Kvm.Features.All);

        Assert.That(rare, Has.Count.EqualTo(35));
        Assert.That(cpu.Counters.VmReads, Is.EqualTo(35));
        Assert.That(ReadEncodings(cpu), Is.EquivalentTo(rare));
        Assert.That(vmcs12.GuestEsBase, Is.EqualTo(cpu.Peek(Vmcs02, 0x6806)));
        Assert.That(sync.RareStale, Is.False);
    }

    [Test]
    public void Kvm2018ReadsTheRareSetAndTheWrittenThroughFieldsOnEveryExit()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var kvm12 = Kvm.Vmcs12.Create();
        Kvm.ExitSync.SyncVmcs02ToVmcs12(ref vmcs02, ref kvm12, Kvm.Features.All);
        var now = ReadEncodings(cpu);
        var nowCount = cpu.Counters.VmReads;

        cpu.ResetCounters();
        var old12 = Kvm2018.Vmcs12.Create();
        Kvm2018.ExitSync.SyncVmcs02ToVmcs12(ref vmcs02, ref old12, Kvm2018.Features.All);
        var then = ReadEncodings(cpu);
        var rare = Reference.Fields().Where(f => f.Row["kvm_rare"] == "yes").Select(f => f.Encoding);

        TestContext.Out.WriteLine($"VMREADs from vmcs02 per nested exit: kvm-2018 {cpu.Counters.VmReads}, kvm {nowCount}");
        Assert.That(now.IsSubsetOf(then), Is.True);
        Assert.That(then.Except(now), Is.EquivalentTo(rare.Concat(WrittenThroughSince2019.Select(Encoding))),
            "the difference is the 35-field rare set plus the six fields written through at WRMSR since 2019");
        Assert.That(cpu.Counters.VmReads - nowCount, Is.EqualTo(35 + 6));
    }

    [Test]
    public void AbsentFeaturesDropTheirFieldsFromTheCopies()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Kvm.Vmcs12.Create();
        Kvm.ExitSync.SyncVmcs02ToVmcs12(ref vmcs02, ref vmcs12, Kvm.Features.None);

        Assert.That(cpu.Counters.VmReads, Is.EqualTo(KvmEveryExit().Length + ConservativeExtra.Length - 2),
            "GUEST_INTR_STATUS (apicv) and VMX_PREEMPTION_TIMER_VALUE (preemption-timer) drop out");
        Assert.That(cpu.ReadsOf(0x0810) + cpu.ReadsOf(0x0812) + cpu.ReadsOf(0x482E), Is.Zero);
    }

    [Test]
    public void AControlSetToItsCurrentValueCostsNoVmwrite()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var controls = default(Kvm.ControlShadows);

        Assert.That(controls.SetPinBasedVmExecControl(ref vmcs02, 0), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.Counters.VmWrites, Is.Zero, "zeroed at creation: writing 0 changes nothing");

        controls.SetPinBasedVmExecControl(ref vmcs02, 0x16);
        controls.SetPinBasedVmExecControl(ref vmcs02, 0x16);
        controls.SetBitsPinBasedVmExecControl(ref vmcs02, 0x02);
        Assert.That((cpu.Counters.VmWrites, controls.Writes), Is.EqualTo((1L, 1L)), "one write for the change, none for the repeats");

        controls.SetBitsPinBasedVmExecControl(ref vmcs02, 0x40);
        controls.ClearBitsPinBasedVmExecControl(ref vmcs02, 0x40);
        controls.ClearBitsPinBasedVmExecControl(ref vmcs02, 0x40);
        Assert.That(cpu.Counters.VmWrites, Is.EqualTo(3));
        Assert.That(controls.PinBasedVmExecControl, Is.EqualTo(0x16u));
        Assert.That(cpu.Peek(Vmcs02, 0x4000), Is.EqualTo(0x16ul));
        Assert.That(cpu.Counters.VmReads, Is.Zero, "a getter never VMREADs");
        Assert.That(Kvm.ControlShadows.IsShadowed(0x4000) && !Kvm.ControlShadows.IsShadowed(0x4004), Is.True);
    }

    [Test]
    public void ASteadyStateEntryPerformsZeroControlVmwrites()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Kvm.Vmcs12.Create();
        vmcs12.PinBasedVmExecControl = 0x16;
        vmcs12.CpuBasedVmExecControl = 0x8401_E172;
        vmcs12.SecondaryVmExecControl = 0x0000_00A2;
        vmcs12.VmEntryControls = 0x0000_93FF;
        vmcs12.VmExitControls = 0x0036_DFFF;
        var controls = default(Kvm.ControlShadows);

        Kvm.EntryPrepare.PrepareVmcs02(ref vmcs02, ref vmcs12, Kvm.DirtyGroups.All, Kvm.Features.All, ref controls);
        Assert.That(controls.Writes, Is.EqualTo(5), "the first entry writes every changed control");

        cpu.ResetCounters();
        var before = controls.Writes;
        Kvm.EntryPrepare.PrepareVmcs02(ref vmcs02, ref vmcs12, Kvm.DirtyGroups.None, Kvm.Features.All, ref controls);

        Assert.That(controls.Writes - before, Is.Zero, "no control changed, no control VMWRITE");
        var controlWrites = new uint[] { 0x4000, 0x4002, 0x400C, 0x4012, 0x401E }.Sum(e => cpu.WritesOf(e));
        Assert.That(controlWrites, Is.Zero);
        Assert.That(cpu.Counters.VmWrites, Is.EqualTo(Kvm.EntryPrepare.EveryEntryCount - 2), "every shadow-rw field but the two shadowed controls");
    }

    [Test]
    public void ACleanEntryWritesOnlyShadowRwFieldsAndADirtyOneWritesEverything()
    {
        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Kvm.Vmcs12.Create();
        var controls = default(Kvm.ControlShadows);

        Kvm.EntryPrepare.PrepareVmcs02(ref vmcs02, ref vmcs12, Kvm.DirtyGroups.None, Kvm.Features.All, ref controls);
        var clean = cpu.Counters.VmWrites;
        cpu.ResetCounters();
        Kvm.EntryPrepare.PrepareVmcs02(ref vmcs02, ref vmcs12, Kvm.DirtyGroups.All, Kvm.Features.All, ref controls);
        var dirty = cpu.Counters.VmWrites;

        var entrySet = Kvm.VmcsFieldInfo.All.ToArray().Where(f => f.Type is FieldType.Control or FieldType.GuestState).ToList();
        Assert.That(clean, Is.EqualTo(Kvm.EntryPrepare.EveryEntryCount - 2), "controls are zero in vmcs12 and in the fresh shadows");
        Assert.That(dirty, Is.EqualTo(entrySet.Count - entrySet.Count(f => f.ControlShadow)));
        Assert.That(cpu.WritesOf(0x4402) + cpu.WritesOf(0x6C16), Is.Zero, "exit-information and host-state fields never go into vmcs02");
    }

    [Test]
    public void ATrappedVmwriteDirtiesOnlyItsGroupAndTheNextEntryRewritesOnlyThatGroup()
    {
        var dirty = Minimal.DirtyGroups.None;
        Minimal.Dirty.MarkDirty(ref dirty, Minimal.VmcsField.GuestCr3);
        Assert.That(dirty, Is.EqualTo(Minimal.DirtyGroups.Cr));
        Minimal.Dirty.MarkDirty(ref dirty, Minimal.VmcsField.GuestRip);
        Assert.That(dirty, Is.EqualTo(Minimal.DirtyGroups.Cr), "shadow-rw fields take no group");
        Assert.That(Minimal.Dirty.GroupOf(0x6809), Is.EqualTo(Minimal.DirtyGroups.Segments), "a _HIGH form belongs to its field's group");

        var (cpu, vmcs02) = LoadedVmcs02();
        var vmcs12 = Minimal.Vmcs12.Create();
        var controls = default(Minimal.ControlShadows);
        Minimal.EntryPrepare.PrepareVmcs02(ref vmcs02, ref vmcs12, dirty, Minimal.Features.All, ref controls);

        var written = Enumerable.Range(0, 0x8000).Where(e => cpu.WritesOf((uint)e) > 0).Select(e => (uint)e).ToHashSet();
        Assert.That(written, Is.EquivalentTo(new uint[]
        {
            0x681E, 0x681C, 0x6820, 0x0810, // shadow-rw guest fields, every entry (controls are unchanged zeros)
            0x6800, 0x6802, 0x6804,         // the cr group
        }));
    }

    [Test]
    public void FeaturesFollowTheCapabilities()
    {
        var caps = new VmxCapabilities(CapabilityTests.SkylakeServer());
        Assert.That(Kvm.FeatureSupport.From(caps), Is.EqualTo(Kvm.Features.All));
        var noApicv = new Dictionary<uint, ulong>(CapabilityTests.SkylakeServer()) { [VmxMsr.TruePinBasedCtls] = 0x0000_007F_0000_0016 };
        Assert.That(Kvm.FeatureSupport.From(new VmxCapabilities(noApicv)), Is.EqualTo(Kvm.Features.Pml | Kvm.Features.PreemptionTimer));
    }
}
