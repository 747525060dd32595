using System.Linq;

namespace VmcsGen.Generator.Model;

/// <summary>One field as it will be generated: everything decided, no text spans.</summary>
/// <param name="FeatureBit">Bit of <see cref="Feature"/> in the generated Features enum, or -1.</param>
/// <param name="GroupIndex">Dirty-group bit, or -1 for shadow-rw fields (rewritten every entry).</param>
internal sealed record FieldSpec(
    string Name,
    string CSharpName,
    uint Encoding,
    FieldWidth Width,
    FieldType Type,
    int Offset,
    FieldClass Class,
    bool ControlShadow,
    string? Feature,
    int FeatureBit,
    int GroupIndex)
{
    public int SizeInBytes => VmcsEncoding.SizeInBytes(Width);

    public bool Is64Bit => Width == FieldWidth.Bits64;
}

/// <summary>A feature named by <c>requires=</c>: its manifest name and C# enum member.</summary>
internal sealed record FeatureSpec(string Name, string CSharpName, int Bit);

/// <summary>A dirty-tracking group: its manifest name and C# name.</summary>
internal sealed record GroupSpec(string Name, string CSharpName, int Bit);

/// <summary>The location-free model of one manifest: the input of every emitter.</summary>
/// <param name="FileName">The manifest's file name (no directory), shown in generated comments.</param>
/// <param name="Fields">Ordered by (encoding, name), ordinal.</param>
internal sealed record VmcsManifest(
    string FilePath,
    string FileName,
    string Namespace,
    string LayoutName,
    uint Revision,
    int Size,
    int HeaderSize,
    bool VmwriteAny,
    bool ExplicitOffsets,
    EquatableArray<FieldSpec> Fields,
    EquatableArray<FeatureSpec> Features,
    EquatableArray<GroupSpec> Groups)
{
    // The copy sets: which fields each generated loop moves, decided once here (by FieldRules.CopySetsOf, the rule shared
    // with the engine and the advisor) so the emitters only iterate.

    /// <summary>shadow-rw fields: the shadow VMCS's read-write table; both shadow copy directions.</summary>
    public EquatableArray<FieldSpec> ShadowReadWrite { get; } = In(Fields, FieldRules.CopySets.ShadowReadWrite);

    /// <summary>shadow-ro fields: read by L1 without an exit; copied vmcs12 → shadow only.</summary>
    public EquatableArray<FieldSpec> ShadowReadOnly { get; } = In(Fields, FieldRules.CopySets.ShadowReadOnly);

    /// <summary>
    /// Copied vmcs02 → vmcs12 on every nested exit: guest-state and exit-information fields that are shadowed or sync,
    /// except the two whose vmcs02 copy is L0's own (<see cref="FieldRules.IsL0OwnedInVmcs02"/>: VMCS_LINK_POINTER, GUEST_PML_INDEX).
    /// </summary>
    public EquatableArray<FieldSpec> EveryExitSync { get; } = In(Fields, FieldRules.CopySets.EveryExitSync);

    /// <summary>rare-sync fields: copied vmcs02 → vmcs12 only when somebody needs them.</summary>
    public EquatableArray<FieldSpec> RareSync { get; } = In(Fields, FieldRules.CopySets.RareSync);

    /// <summary>Written into vmcs02 by a nested entry: control and guest-state fields (exit information and host state never).</summary>
    public EquatableArray<FieldSpec> EntryFields { get; } = In(Fields, FieldRules.CopySets.EntryEveryTime | FieldRules.CopySets.EntryWhenDirty);

    /// <summary>The entry fields written on every nested entry (shadow-rw: L0 never sees L1 write them); the others wait for their dirty group.</summary>
    public EquatableArray<FieldSpec> EntryEveryTime { get; } = In(Fields, FieldRules.CopySets.EntryEveryTime);

    /// <summary>Control fields with a software shadow (VMWRITE only on change).</summary>
    public EquatableArray<FieldSpec> ControlShadowed { get; } = Fields.Where(f => f.ControlShadow).ToEquatableArray();

    private static EquatableArray<FieldSpec> In(EquatableArray<FieldSpec> fields, FieldRules.CopySets sets) =>
        fields.Where(f => FieldRules.InCopySet(sets, f.Encoding, f.Class)).ToEquatableArray();
}
