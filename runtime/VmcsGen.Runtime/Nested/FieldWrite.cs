namespace VmcsGen.Nested;

/// <summary>A value the CPU writes into vmcs02 when L2 exits (exit information, changed guest state).</summary>
public readonly record struct FieldWrite(uint Encoding, ulong Value);
