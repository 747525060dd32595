namespace VmcsGen;

/// <summary>
/// The generator's part of the classification rules: internal here. The rules themselves are one source,
/// runtime/VmcsGen.Runtime/FieldRules.cs, linked into this project (see its header for why no #if).
/// </summary>
internal static partial class FieldRules
{
}
