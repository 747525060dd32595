namespace VmcsGen;

/// <summary>
/// What a layout knows about one field access form: generated per manifest in <c>VmcsFieldInfo</c>.
/// A _HIGH form has <see cref="IsHigh"/> set, 32-bit width of access, and its offset is the full field's + 4.
/// </summary>
/// <param name="Name">The SDM/KVM name (with <c>_HIGH</c> for a high form).</param>
/// <param name="CSharpName">The generated member name of the full field.</param>
/// <param name="Encoding">The encoding of this access form.</param>
/// <param name="Width">The field's width (of the full field, also for a high form).</param>
/// <param name="Type">The field's type from its encoding.</param>
/// <param name="Class">The manifest class.</param>
/// <param name="Offset">Byte offset in vmcs12 of this access form.</param>
/// <param name="ControlShadow">Whether L0 keeps a software shadow of this control field.</param>
/// <param name="Feature">The manifest feature the field requires, or null.</param>
/// <param name="FeatureMask">The feature's bit in the layout's Features enum, or 0.</param>
/// <param name="GroupMask">The dirty group's bit, or 0 for shadow-rw fields.</param>
/// <param name="IsHigh">True for the _HIGH access form of a 64-bit field.</param>
public readonly record struct VmcsFieldDescriptor(
    string Name,
    string CSharpName,
    uint Encoding,
    FieldWidth Width,
    FieldType Type,
    FieldClass Class,
    int Offset,
    bool ControlShadow,
    string? Feature,
    ulong FeatureMask,
    uint GroupMask,
    bool IsHigh)
{
    /// <summary>Exit-information fields are read-only to VMWRITE unless the CPU allows VMWRITE to any field.</summary>
    public bool IsReadOnlyByType => Type == FieldType.ExitInformation;

    /// <summary>Bytes this access form moves (a _HIGH form moves 4).</summary>
    public int AccessSize => IsHigh ? 4 : VmcsEncoding.SizeInBytes(Width);
}
