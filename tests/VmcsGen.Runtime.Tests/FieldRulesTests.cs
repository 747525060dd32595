using NUnit.Framework;
using static VmcsGen.FieldRules.CopySets;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The classification rules against docs/MANIFEST.md: the class table ("CLASS, one of …", one column per transition), the
/// direction by type ("exit-information fields flow only vmcs02 → vmcs12 …; host-state fields … never into vmcs02"), the
/// default class, and the limits of "Rules the generator enforces". That the generator reports the same rules is held in
/// NestedSim's FieldRulesTests; that the generated loops are the same sets, by the generator's snapshots.
/// </summary>
public sealed class FieldRulesTests
{
    private const uint GuestRip = 0x681E, PinBased = 0x4000, ExitReason = 0x4402, HostRip = 0x6C16;
    private const uint LinkPointer = 0x2800, PmlIndex = 0x0812, InstructionError = 0x4400, CsArBytes = 0x4816;

    // Guest state: both ways. Shadowed and sync fields come back on every exit; rare-sync ones when first needed;
    // no-sync never. Shadow-rw ones are prepared on every entry (L0 never sees L1 write them), the rest when dirty.
    [TestCase(GuestRip, FieldClass.ShadowRw, ShadowReadWrite | EveryExitSync | EntryEveryTime)]
    [TestCase(GuestRip, FieldClass.ShadowRo, ShadowReadOnly | EveryExitSync | EntryWhenDirty)]
    [TestCase(GuestRip, FieldClass.Sync, EveryExitSync | EntryWhenDirty)]
    [TestCase(GuestRip, FieldClass.RareSync, RareSync | EntryWhenDirty)]
    [TestCase(GuestRip, FieldClass.NoSync, EntryWhenDirty)]
    // Control fields: only vmcs12 → vmcs02.
    [TestCase(PinBased, FieldClass.ShadowRw, ShadowReadWrite | EntryEveryTime)]
    [TestCase(PinBased, FieldClass.ShadowRo, ShadowReadOnly | EntryWhenDirty)]
    [TestCase(PinBased, FieldClass.NoSync, EntryWhenDirty)]
    // Exit information: only vmcs02 → vmcs12.
    [TestCase(ExitReason, FieldClass.ShadowRo, ShadowReadOnly | EveryExitSync)]
    [TestCase(ExitReason, FieldClass.Sync, EveryExitSync)]
    [TestCase(ExitReason, FieldClass.NoSync, None)]
    // Host state: L1's own, never into vmcs02; only the shadow copies apply.
    [TestCase(HostRip, FieldClass.ShadowRw, ShadowReadWrite)]
    [TestCase(HostRip, FieldClass.Sync, None)]
    [TestCase(HostRip, FieldClass.NoSync, None)]
    // vmcs02's VMCS_LINK_POINTER and GUEST_PML_INDEX are L0's own: never read back on an exit, whatever the class.
    [TestCase(LinkPointer, FieldClass.Sync, EntryWhenDirty)]
    [TestCase(PmlIndex, FieldClass.ShadowRo, ShadowReadOnly | EntryWhenDirty)]
    public void CopySetsFollowTheClassTableAndTheDirectionByType(uint encoding, FieldClass @class, FieldRules.CopySets expected)
    {
        Assert.That(FieldRules.CopySetsOf(encoding, @class), Is.EqualTo(expected));
    }

    [Test]
    public void DefaultClassIsSyncForWhatTheCpuChangesAndNoSyncForWhatOnlyL1Writes()
    {
        Assert.Multiple(() =>
        {
            Assert.That(FieldRules.DefaultClass(FieldType.GuestState), Is.EqualTo(FieldClass.Sync));
            Assert.That(FieldRules.DefaultClass(FieldType.ExitInformation), Is.EqualTo(FieldClass.Sync));
            Assert.That(FieldRules.DefaultClass(FieldType.Control), Is.EqualTo(FieldClass.NoSync));
            Assert.That(FieldRules.DefaultClass(FieldType.HostState), Is.EqualTo(FieldClass.NoSync));
        });
    }

    [Test]
    public void ClassRulesOfTheManifestSpec()
    {
        Assert.Multiple(() =>
        {
            Assert.That(FieldRules.CheckClass(ExitReason, FieldClass.RareSync, vmwriteAny: true), Is.EqualTo(FieldRules.Violations.RareSyncNotGuestState));
            Assert.That(FieldRules.CheckClass(ExitReason, FieldClass.ShadowRw, vmwriteAny: false), Is.EqualTo(FieldRules.Violations.ShadowRwExitInformation));
            Assert.That(FieldRules.CheckClass(ExitReason, FieldClass.ShadowRw, vmwriteAny: true), Is.EqualTo(FieldRules.Violations.None));
            Assert.That(
                FieldRules.CheckClass(InstructionError, FieldClass.ShadowRw, vmwriteAny: false),
                Is.EqualTo(FieldRules.Violations.ShadowRwExitInformation | FieldRules.Violations.ShadowedInstructionError));
            Assert.That(FieldRules.CheckClass(InstructionError, FieldClass.ShadowRo, vmwriteAny: true),
                Is.EqualTo(FieldRules.Violations.ShadowedInstructionError));
            Assert.That(FieldRules.CheckClass(CsArBytes, FieldClass.ShadowRw, vmwriteAny: true), Is.EqualTo(FieldRules.Violations.ShadowRwAccessRights));
            Assert.That(FieldRules.IsAllowed(CsArBytes, FieldClass.ShadowRo, vmwriteAny: true), Is.True);
            Assert.That(FieldRules.CheckControlShadow(FieldType.GuestState, FieldWidth.Bits32), Is.EqualTo(FieldRules.Violations.ControlShadowNotControl));
            Assert.That(FieldRules.CheckControlShadow(FieldType.Control, FieldWidth.Bits16), Is.EqualTo(FieldRules.Violations.ControlShadowWidth));
            Assert.That(FieldRules.CheckControlShadow(FieldType.Control, FieldWidth.Bits64), Is.EqualTo(FieldRules.Violations.None));
            Assert.That(FieldRules.HasDirtyGroup(FieldClass.ShadowRw), Is.False, "group= on a shadow-rw field is refused");
            Assert.That(FieldRules.L1MayWrite(FieldType.ExitInformation, vmwriteAny: false), Is.False, "VMfailValid(13)");
            Assert.That((FieldRules.MaxShadowed, FieldRules.MaxDirtyGroups), Is.EqualTo((64, 32)), "more than 64 shadowed warns; at most 32 groups");
        });
    }
}
