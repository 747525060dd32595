using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// Emits <c>Vmcs12Access</c>: VMREAD/VMWRITE semantics on the in-memory vmcs12 by encoding, and the offset lookup
/// twice: through a perfect hash found at compile time (<see cref="EncodingHash"/>; what Read, Write and
/// <c>TryGetOffset</c> use), and as KVM's compact ROL16-indexed table (the baseline it is measured against).
/// </summary>
internal static class Vmcs12AccessEmitter
{
    private const string Unsupported = GeneratedHeader.VmxResult + ".FailValid(global::VmcsGen.VmxInstructionError.UnsupportedVmcsComponent)";
    private const string Succeed = GeneratedHeader.VmxResult + ".Succeed";

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>Reads and writes vmcs12 fields by encoding, with the width, _HIGH and truncation rules of VMREAD/VMWRITE.</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class Vmcs12Access"))
        {
            EmitRead(writer);
            writer.WriteLine();
            EmitWrite(writer);
            writer.WriteLine();
            EmitTryGetOffset(writer);
            writer.WriteLine();
            EmitHash(writer, EncodingHash.Build(manifest));
            writer.WriteLine();
            // TEMPORARY candidate for the benchmark run; removed once measured.
            using (writer.Block("public static bool TryGetOffsetSwitch(uint encoding, out int offset)"))
            {
                using (writer.Block("switch (encoding)"))
                {
                    foreach (var field in manifest.Fields)
                    {
                        writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding)}: offset = {field.Offset}; return true;");
                        if (field.Is64Bit)
                        {
                            writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding | 1)}: offset = {field.Offset + 4}; return true;");
                        }
                    }

                    writer.WriteLine("default: offset = 0; return false;");
                }
            }
            writer.WriteLine();
            EmitCompact(writer, manifest);
        }
    }

    private static void EmitRead(SourceWriter writer)
    {
        writer.WriteLine("/// <summary>VMREAD semantics: zero-extends to 64 bits; a _HIGH form reads bits 63:32; VMfailValid(12) for an encoding this layout lacks.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Read(ref Vmcs12 vmcs12, uint encoding, out ulong value)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("if ((ushort)entry != encoding)");
            writer.WriteLine("{");
            writer.WriteLine("    value = 0;");
            writer.WriteLine($"    return {Unsupported};");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("ref var at = ref global::System.Runtime.CompilerServices.Unsafe.Add(ref global::System.Runtime.CompilerServices.Unsafe.As<Vmcs12, byte>(ref vmcs12), (nint)((entry >> 16) & 0x1FFF));");
            writer.WriteLine("value = (entry >> 29) switch");
            writer.WriteLine("{");
            writer.WriteLine("    0 => global::System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ushort>(ref at),");
            writer.WriteLine("    1 => global::System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(ref at),");
            writer.WriteLine("    _ => global::System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(ref at),");
            writer.WriteLine("};");
            writer.WriteLine($"return {Succeed};");
        }
    }

    private static void EmitWrite(SourceWriter writer)
    {
        writer.WriteLine("/// <summary>VMWRITE semantics on memory: truncates to the field's width; a _HIGH form writes bits 63:32 from the value's low 32 bits; VMfailValid(12) for an encoding this layout lacks. Read-only and feature checks are the caller's.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Write(ref Vmcs12 vmcs12, uint encoding, ulong value)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("if ((ushort)entry != encoding)");
            writer.WriteLine("{");
            writer.WriteLine($"    return {Unsupported};");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("ref var at = ref global::System.Runtime.CompilerServices.Unsafe.Add(ref global::System.Runtime.CompilerServices.Unsafe.As<Vmcs12, byte>(ref vmcs12), (nint)((entry >> 16) & 0x1FFF));");
            using (writer.Block("switch (entry >> 29)"))
            {
                writer.WriteLine("case 0: global::System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref at, (ushort)value); break;");
                writer.WriteLine("case 1: global::System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref at, (uint)value); break;");
                writer.WriteLine("default: global::System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref at, value); break;");
            }

            writer.WriteLine();
            writer.WriteLine($"return {Succeed};");
        }
    }

    private static void EmitTryGetOffset(SourceWriter writer)
    {
        writer.WriteLine("/// <summary>The vmcs12 offset of an encoding (a _HIGH form is the full field's offset + 4): one multiply, one shift, one load.</summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        using (writer.Block("public static bool TryGetOffset(uint encoding, out int offset)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("var found = (ushort)entry == encoding;");
            writer.WriteLine("offset = found ? (int)((entry >> 16) & 0x1FFF) : 0;");
            writer.WriteLine("return found;");
        }
    }

    private static void EmitHash(SourceWriter writer, EncodingHash hash)
    {
        var inv = CultureInfo.InvariantCulture;
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The slot of an encoding in <see cref=\"Entries\"/>: a perfect hash found at compile time, distinct for each of this");
        writer.WriteLine("/// layout's valid encodings (full and _HIGH). Any other encoding lands on a slot whose key differs from it.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        writer.WriteLine($"internal static uint Slot(uint encoding) => unchecked(encoding * 0x{hash.Multiplier.ToString("X8", inv)}u) >> {32 - hash.Bits};");
        writer.WriteLine();
        writer.WriteLine("/// <summary>The entry for an encoding: key (bits 15:0, equal to the encoding if and only if the layout has it), offset (28:16), size code (30:29: 2, 4 or 8 bytes).</summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        writer.WriteLine("internal static uint Entry(uint encoding) => EntryAt(Slot(encoding));");
        writer.WriteLine();
        writer.WriteLine("/// <summary>The entry in a slot; <paramref name=\"slot\"/> comes from <see cref=\"Slot\"/>, so it is below the table's length and no bounds check is needed.</summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        writer.WriteLine("internal static uint EntryAt(uint slot) =>");
        writer.WriteLine("    global::System.Runtime.CompilerServices.Unsafe.Add(ref global::System.Runtime.InteropServices.MemoryMarshal.GetReference(Entries), (nint)slot);");
        writer.WriteLine();
        writer.WriteLine($"/// <summary>{hash.Entries.Length} entries indexed by <see cref=\"Slot\"/>.</summary>");
        writer.WriteLine("private static global::System.ReadOnlySpan<uint> Entries =>");
        writer.WriteLine("[");
        writer.Indent();
        const int perLine = 8;
        for (var start = 0; start < hash.Entries.Length; start += perLine)
        {
            var items = new List<string>();
            for (var i = start; i < start + perLine && i < hash.Entries.Length; i++)
            {
                items.Add("0x" + hash.Entries[i].ToString("X8", inv));
            }

            writer.WriteLine(string.Join(", ", items) + ",");
        }

        writer.Unindent();
        writer.WriteLine("];");
    }

    private static void EmitCompact(SourceWriter writer, VmcsManifest manifest)
    {
        var entries = new SortedDictionary<int, int>();
        foreach (var field in manifest.Fields)
        {
            entries[VmcsEncoding.CompactIndex(field.Encoding)] = field.Offset;
            if (field.Is64Bit)
            {
                entries[VmcsEncoding.CompactIndex(field.Encoding | 1)] = field.Offset + 4;
            }
        }

        var length = entries.Count == 0 ? 0 : entries.Keys.Max() + 1;
        writer.WriteLine("/// <summary>Entries in the compact table: the highest ROL16 index in use + 1.</summary>");
        writer.WriteLine($"public const int CompactTableLength = {length};");
        writer.WriteLine();
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// KVM's run-time lookup: <c>offset = table[ROL16(encoding, 6)]</c> with a bounds check, the index clamped");
        writer.WriteLine("/// without a branch (as <c>array_index_nospec</c>) and offset 0 meaning \"no such field\". Kept to benchmark against");
        writer.WriteLine("/// <see cref=\"TryGetOffset\"/>; it gives the same answer for every encoding.");
        writer.WriteLine("/// </summary>");
        using (writer.Block("public static bool TryGetOffsetCompact(uint encoding, out int offset)"))
        {
            writer.WriteLine("global::System.ReadOnlySpan<ushort> table = CompactOffsets;");
            writer.WriteLine("if ((encoding >> 15) != 0)");
            writer.WriteLine("{");
            writer.WriteLine("    offset = 0;");
            writer.WriteLine("    return false;");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("var index = (uint)(ushort)((encoding << 6) | (encoding >> 10));");
            writer.WriteLine("if (index >= (uint)table.Length)");
            writer.WriteLine("{");
            writer.WriteLine("    offset = 0;");
            writer.WriteLine("    return false;");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("// Clamp to 0 if out of range without a branch, so a mispredicted bounds check cannot read past the table.");
            writer.WriteLine("index &= (uint)((int)(index - (uint)table.Length) >> 31);");
            writer.WriteLine("offset = table[(int)index];");
            writer.WriteLine("return offset != 0;");
        }

        writer.WriteLine();
        writer.WriteLine("/// <summary>Offsets indexed by ROL16(encoding, 6); 0 = unsupported (offset 0 is the header, never a field).</summary>");
        writer.WriteLine("private static global::System.ReadOnlySpan<ushort> CompactOffsets =>");
        writer.WriteLine("[");
        writer.Indent();
        const int perLine = 16;
        for (var start = 0; start < length; start += perLine)
        {
            var items = new List<string>();
            for (var i = start; i < start + perLine && i < length; i++)
            {
                items.Add(entries.TryGetValue(i, out var offset) ? offset.ToString(CultureInfo.InvariantCulture) : "0");
            }

            writer.WriteLine(string.Join(", ", items) + ",");
        }

        writer.Unindent();
        writer.WriteLine("];");
    }
}
