namespace VmcsGen;

/// <summary>
/// The runtime's part of <see cref="FieldRules"/>: public here (the shared rules are in FieldRules.cs, also compiled into the generator as internal).
/// </summary>
public static partial class FieldRules
{
}
