// One source of the classification rules of docs/MANIFEST.md: compiled into the runtime (public, for the engine and for
// tools such as NestedSim's advisor) and, as a linked file, into the generator (internal, for the binder and the model),
// dotnet/runtime's Common/src pattern, as VmcsEncoding.cs and Nested/CpuExitTables.cs are shared.
//
// Why no #if: this part declares the class without an accessibility modifier, and each assembly states it in a one-line
// part of its own (FieldRules.Public.cs here, Shared/FieldRules.Internal.cs in the generator); C# allows parts that leave
// the accessibility out when the parts that write it agree (C# spec, "Partial declarations"). The nested enums are public
// members, so they are as visible as the class. Public in both assemblies would not be harmless: NestedSim and the
// generator tests reference both, and two public VmcsGen.FieldRules would be ambiguous there. The namespace is VmcsGen in
// both; FieldClass, FieldType and VmcsEncoding resolve to the runtime's as members of it, and to the generator's through
// the generator's global using of VmcsGen.Generator (VmcsGen.Generator.csproj). It is the root namespace, as for
// VmcsEncoding, and not a new VmcsGen.Classification: code in a VmcsGen.* namespace that names NestedSim's Classification
// type would find such a namespace first and stop compiling.
using System;

namespace VmcsGen;

/// <summary>
/// The classification rules in one place: a field's default class, which classes a field may take (and which diagnostic a
/// class that it may not take gets), the manifest-wide limits, and which generated copy loops move a field of a class.
/// The generator's binder and model, the nested engine and NestedSim's advisor all ask here. The oracle engine
/// (<c>ReferenceNestedVmx</c>) does not: it restates the rules on its own, so that a bug here shows up as a disagreement.
/// </summary>
#pragma warning disable IDE0040 // The accessibility is each assembly's own part's (see the header): none written here on purpose.
static partial class FieldRules
#pragma warning restore IDE0040
{
    /// <summary>
    /// Fields shadowed (shadow-rw and shadow-ro) beyond which the generator warns (VMCS0117): each one is a VMREAD or
    /// VMWRITE of the shadow VMCS on every nested transition.
    /// </summary>
    public const int MaxShadowed = 64;

    /// <summary>Dirty groups a manifest may have (VMCS0114): a group is one bit of the generated 32-bit <c>DirtyGroups</c>.</summary>
    public const int MaxDirtyGroups = 32;

    /// <summary>Features a manifest may name (VMCS0118): a feature is one bit of the generated 64-bit <c>Features</c>.</summary>
    public const int MaxFeatures = 64;

    /// <summary>
    /// The class of a field whose manifest line names none: <c>sync</c> for guest-state and exit-information fields (the
    /// CPU changes them while L2 runs, so vmcs12 must get them back), <c>no-sync</c> for control and host-state fields
    /// (only L1 writes them).
    /// </summary>
    public static FieldClass DefaultClass(FieldType type) =>
        type is FieldType.GuestState or FieldType.ExitInformation ? FieldClass.Sync : FieldClass.NoSync;

    /// <summary>
    /// Whether an L1 VMWRITE may write a field of this type: exit-information fields are read-only unless the CPU offers
    /// VMWRITE to any field (IA32_VMX_MISC bit 29; otherwise VMWRITE fails with VMfailValid(13), SDM Vol. 3C §31.4).
    /// </summary>
    public static bool L1MayWrite(FieldType type, bool vmwriteAny) => type != FieldType.ExitInformation || vmwriteAny;

    /// <summary>
    /// Whether a field of this class needs <c>vmwrite-any</c>: a shadow-rw field is written by L1 through the shadow VMCS
    /// without an exit, so it must be a field L1 may write (<see cref="L1MayWrite"/>): shadow-rw on an exit-information
    /// field is refused without it (VMCS0111), and the engine cannot deny L1 VMWRITE-any while such a field is shadowed.
    /// </summary>
    public static bool NeedsVmwriteAny(FieldType type, FieldClass @class) =>
        @class == FieldClass.ShadowRw && !L1MayWrite(type, vmwriteAny: false);

    /// <summary>Whether the field is in the shadow VMCS (shadow-rw or shadow-ro): L1 reads it without an exit.</summary>
    public static bool IsShadowed(FieldClass @class) => @class is FieldClass.ShadowRw or FieldClass.ShadowRo;

    /// <summary>
    /// Whether a field of this class belongs to a dirty group: every class but shadow-rw. L0 never sees L1 write a
    /// shadow-rw field, so it cannot mark a group dirty for it: such fields are written into vmcs02 on every entry, and a
    /// <c>group=</c> on one is refused (VMCS0112).
    /// </summary>
    public static bool HasDirtyGroup(FieldClass @class) => @class != FieldClass.ShadowRw;

    /// <summary>
    /// Whether the field is VM_INSTRUCTION_ERROR, the one field L0 writes into vmcs12 itself: a failing VMX instruction
    /// stores its number there (VMfailValid, SDM Vol. 3C §31.4), and L0 emulates L1's instructions. No VM exit writes it.
    /// So it is never shadowed (a shadow copy would go stale, VMCS0113), a tool never reclassifies it, and it is not part
    /// of the exit information the CPU leaves in vmcs02.
    /// </summary>
    public static bool IsWrittenByL0(uint encoding) => encoding == VmcsEncoding.VmInstructionError;

    /// <summary>
    /// Guest fields whose vmcs02 copy is L0's own, never L1's: KVM's <c>prepare_vmcs02_constant_state</c> (nested.c) writes
    /// -1 into vmcs02's VMCS_LINK_POINTER and L0's own page-modification-log head into its GUEST_PML_INDEX. Neither is read
    /// back from vmcs02 into vmcs12 on a nested exit, whatever the class (<c>sync_vmcs02_to_vmcs12</c> reads neither).
    /// Full or _HIGH access form.
    /// </summary>
    public static bool IsL0OwnedInVmcs02(uint encoding) => (encoding & ~1u) is VmcsEncoding.VmcsLinkPointer or GuestPmlIndex;

    /// <summary>GUEST_PML_INDEX (SDM Vol. 3D Appendix B.1.2).</summary>
    internal const uint GuestPmlIndex = 0x0812;

    /// <summary>
    /// Whether a field may have a software control shadow (<c>control-shadow</c>): only a 32-bit or 64-bit control field
    /// (VMCS0201 for another type, VMCS0202 for another width). Returns the rule it breaks, or <see cref="Violations.None"/>.
    /// </summary>
    public static Violations CheckControlShadow(FieldType type, FieldWidth width) =>
        type != FieldType.Control ? Violations.ControlShadowNotControl
        : width is not (FieldWidth.Bits32 or FieldWidth.Bits64) ? Violations.ControlShadowWidth
        : Violations.None;

    /// <summary>
    /// The rules a class breaks on a field (any of <see cref="Violations.RareSyncNotGuestState"/>,
    /// <see cref="Violations.ShadowRwExitInformation"/>, <see cref="Violations.ShadowedInstructionError"/>,
    /// <see cref="Violations.ShadowRwAccessRights"/>), or <see cref="Violations.None"/> when the generator takes it without
    /// a diagnostic. The options' rules are <see cref="CheckControlShadow"/> and <see cref="HasDirtyGroup"/>; whether a
    /// no-sync field is sound is the CPU's side (VMCS0126, <c>CpuExitWrites</c> and <c>L0KeptFields</c>).
    /// </summary>
    /// <param name="encoding">The full field's encoding.</param>
    /// <param name="class">The class in question.</param>
    /// <param name="vmwriteAny">The manifest's <c>vmwrite-any</c>.</param>
    public static Violations CheckClass(uint encoding, FieldClass @class, bool vmwriteAny)
    {
        var type = VmcsEncoding.Type(encoding);
        var broken = Violations.None;
        if (@class == FieldClass.RareSync && type != FieldType.GuestState)
        {
            broken |= Violations.RareSyncNotGuestState;
        }

        if (NeedsVmwriteAny(type, @class) && !vmwriteAny)
        {
            broken |= Violations.ShadowRwExitInformation;
        }

        if (IsShadowed(@class) && IsWrittenByL0(encoding))
        {
            broken |= Violations.ShadowedInstructionError;
        }

        if (@class == FieldClass.ShadowRw && VmcsEncoding.IsSegmentAccessRights(encoding))
        {
            broken |= Violations.ShadowRwAccessRights;
        }

        return broken;
    }

    /// <summary>Whether the generator takes the class on the field with neither an error nor a warning (<see cref="CheckClass"/>).</summary>
    public static bool IsAllowed(uint encoding, FieldClass @class, bool vmwriteAny) => CheckClass(encoding, @class, vmwriteAny) == Violations.None;

    /// <summary>
    /// The generated copy loops that move a field of this class (docs/MANIFEST.md's table): the shadow copies by class; the
    /// every-exit sync for guest-state and exit-information fields that are shadowed or sync (a shadowed field must be
    /// current in vmcs12 before the shadow is refreshed), except the two L0 owns in vmcs02 (<see cref="IsL0OwnedInVmcs02"/>);
    /// the rare sync for rare-sync fields; the entry preparation for control and guest-state fields, shadow-rw ones on
    /// every entry, the others when their dirty group is dirty (<see cref="HasDirtyGroup"/>). Host-state fields are in no
    /// copy set but the shadow ones: they are L1's own, loaded into vmcs01 on a nested exit.
    /// </summary>
    public static CopySets CopySetsOf(uint encoding, FieldClass @class)
    {
        var type = VmcsEncoding.Type(encoding);
        var sets = @class switch
        {
            FieldClass.ShadowRw => CopySets.ShadowReadWrite,
            FieldClass.ShadowRo => CopySets.ShadowReadOnly,
            FieldClass.RareSync => CopySets.RareSync,
            _ => CopySets.None,
        };

        if (type is FieldType.GuestState or FieldType.ExitInformation && (IsShadowed(@class) || @class == FieldClass.Sync) && !IsL0OwnedInVmcs02(encoding))
        {
            sets |= CopySets.EveryExitSync;
        }

        if (type is FieldType.Control or FieldType.GuestState)
        {
            sets |= HasDirtyGroup(@class) ? CopySets.EntryWhenDirty : CopySets.EntryEveryTime;
        }

        return sets;
    }

    /// <summary>Whether a field of this class is in any of <paramref name="sets"/> (<see cref="CopySetsOf"/>).</summary>
    public static bool InCopySet(CopySets sets, uint encoding, FieldClass @class) => (CopySetsOf(encoding, @class) & sets) != 0;

    /// <summary>The diagnostic the generator reports for one broken rule: VMCS0110 … VMCS0115, VMCS0201, VMCS0202.</summary>
    public static string DiagnosticId(Violations rule) => rule switch
    {
        Violations.RareSyncNotGuestState => "VMCS0110",
        Violations.ShadowRwExitInformation => "VMCS0111",
        Violations.ShadowedInstructionError => "VMCS0113",
        Violations.ShadowRwAccessRights => "VMCS0115",
        Violations.ControlShadowNotControl => "VMCS0201",
        Violations.ControlShadowWidth => "VMCS0202",
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "one rule, not None or a combination"),
    };

    /// <summary>The rules of a field's class and options (docs/MANIFEST.md "Rules the generator enforces").</summary>
    [Flags]
    public enum Violations
    {
        None = 0,

        /// <summary>VMCS0110 (error): rare-sync on a field that is not guest state (only guest state can wait for a later sync).</summary>
        RareSyncNotGuestState = 1,

        /// <summary>VMCS0111 (error): shadow-rw on an exit-information field without <c>vmwrite-any</c> (<see cref="NeedsVmwriteAny"/>).</summary>
        ShadowRwExitInformation = 2,

        /// <summary>VMCS0113 (error): VM_INSTRUCTION_ERROR shadowed (<see cref="IsWrittenByL0"/>).</summary>
        ShadowedInstructionError = 4,

        /// <summary>VMCS0115 (warning): shadow-rw on a segment access-rights field: L0 masks written AR bytes, L1 would read them unmasked.</summary>
        ShadowRwAccessRights = 8,

        /// <summary>VMCS0201 (error): control-shadow on a field that is not a control field.</summary>
        ControlShadowNotControl = 16,

        /// <summary>VMCS0202 (error): control-shadow on a control field that is not 32 or 64 bits wide.</summary>
        ControlShadowWidth = 32,
    }

    /// <summary>The generated copy loops a field can be in (<see cref="CopySetsOf"/>).</summary>
    [Flags]
    public enum CopySets
    {
        None = 0,

        /// <summary>shadow-rw: copied vmcs12 → shadow before L1 runs and shadow → vmcs12 before a nested entry.</summary>
        ShadowReadWrite = 1,

        /// <summary>shadow-ro: copied vmcs12 → shadow before L1 runs only.</summary>
        ShadowReadOnly = 2,

        /// <summary>Read from vmcs02 into vmcs12 on every nested exit (<c>ExitSync</c>).</summary>
        EveryExitSync = 4,

        /// <summary>Read from vmcs02 into vmcs12 when first needed after a nested exit (the rare set).</summary>
        RareSync = 8,

        /// <summary>Written from vmcs12 into vmcs02 on every nested entry (<c>EntryPrepare</c>; shadow-rw control and guest state).</summary>
        EntryEveryTime = 16,

        /// <summary>Written from vmcs12 into vmcs02 on a nested entry when the field's dirty group is dirty.</summary>
        EntryWhenDirty = 32,
    }
}
