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
    EquatableArray<GroupSpec> Groups);
