using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// Emits <c>Vmcs12Access</c>: VMREAD/VMWRITE semantics on the in-memory vmcs12 by encoding, and the offset lookup
/// twice: through a table indexed by encoding, derived at compile time (<see cref="EncodingTable"/>; what Read, Write,
/// <c>TryGetOffset</c> and the field descriptors use), and as KVM's compact ROL16-indexed table (the baseline it is
/// measured against, and the pre-2019 engine's run-time lookup).
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
            EmitTable(writer, manifest);
            writer.WriteLine();
            EmitCompact(writer, manifest);
        }
    }

    private static void EmitRead(SourceWriter writer)
    {
        writer.WriteLine("/// <summary>VMREAD semantics: zero-extends to 64 bits; a _HIGH form reads bits 63:32; VMfailValid(12) for an encoding this layout " +
            "lacks.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Read(ref Vmcs12 vmcs12, uint encoding, out ulong value)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("if (entry == 0)");
            writer.WriteLine("{");
            writer.WriteLine("    value = 0;");
            writer.WriteLine($"    return {Unsupported};");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("ref var at = ref global::System.Runtime.CompilerServices.Unsafe.Add(ref " +
                "global::System.Runtime.CompilerServices.Unsafe.As<Vmcs12, byte>(ref vmcs12), (nint)((entry >> 16) & 0x1FFF));");
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
        writer.WriteLine("/// <summary>VMWRITE semantics on memory: truncates to the field's width; a _HIGH form writes bits 63:32 from the value's low 32 " +
            "bits; VMfailValid(12) for an encoding this layout lacks. Read-only and feature checks are the caller's.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Write(ref Vmcs12 vmcs12, uint encoding, ulong value)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("if (entry == 0)");
            writer.WriteLine("{");
            writer.WriteLine($"    return {Unsupported};");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("ref var at = ref global::System.Runtime.CompilerServices.Unsafe.Add(ref " +
                "global::System.Runtime.CompilerServices.Unsafe.As<Vmcs12, byte>(ref vmcs12), (nint)((entry >> 16) & 0x1FFF));");
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
        writer.WriteLine("/// <summary>The vmcs12 offset of an encoding (a _HIGH form is the full field's offset + 4): one compare and one load in a table " +
            "indexed by encoding.</summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        using (writer.Block("public static bool TryGetOffset(uint encoding, out int offset)"))
        {
            writer.WriteLine("var entry = Entry(encoding);");
            writer.WriteLine("offset = (int)((entry >> 16) & 0x1FFF);");
            writer.WriteLine("return entry != 0;");
        }
    }

    private static void EmitTable(SourceWriter writer, VmcsManifest manifest)
    {
        var inv = CultureInfo.InvariantCulture;
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// The entry of an encoding, 0 if the layout has no such encoding: descriptor + 1 (bits 15:0), vmcs12 offset (28:16),");
        writer.WriteLine("/// access size (30:29: 2, 4 or 8 bytes). One compare and one load.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        using (writer.Block("internal static uint Entry(uint encoding)"))
        {
            writer.WriteLine("var table = s_byEncoding;");
            writer.WriteLine("return encoding < (uint)table.Length ? table[encoding] : 0u;");
        }

        writer.WriteLine();
        writer.WriteLine($"/// <summary>{EncodingTable.Length} entries indexed by encoding, built once from <see cref=\"EntriesByEncoding\"/>.</summary>");
        writer.WriteLine("private static readonly uint[] s_byEncoding = BuildTable();");
        writer.WriteLine();
        using (writer.Block("private static uint[] BuildTable()"))
        {
            writer.WriteLine($"var table = new uint[{EncodingTable.Length}];");
            writer.WriteLine("var pairs = EntriesByEncoding;");
            using (writer.Block("for (var i = 0; i < pairs.Length; i += 2)"))
            {
                writer.WriteLine("table[pairs[i]] = pairs[i + 1];");
            }

            writer.WriteLine();
            writer.WriteLine("return table;");
        }

        writer.WriteLine();
        writer.WriteLine("/// <summary>(encoding, entry) pairs for every valid encoding, computed by the generator from the manifest.</summary>");
        writer.WriteLine("private static global::System.ReadOnlySpan<uint> EntriesByEncoding =>");
        writer.WriteLine("[");
        writer.Indent();
        foreach (var (encoding, entry) in EncodingTable.Entries(manifest))
        {
            writer.WriteLine($"{GeneratedHeader.Hex(encoding)}, 0x{entry.ToString("X8", inv)},");
        }

        writer.Unindent();
        writer.WriteLine("];");
    }

    /// <summary>
    /// The lookup for a backend that keeps its values at vmcs12's offsets: the compact table is constant data (RVA), so for
    /// a constant encoding the JIT folds the index, the bounds check and the load to a constant. It returns one value
    /// (offset and size packed) because a copy loop inlines it once per field: two <c>out</c> results per field pushed the
    /// loop past the JIT's tracked locals and left half the fields unfolded (the JIT's disassembly of
    /// <c>CopyShadowToVmcs12</c> on tests/VmcsGen.Benchmarks' <c>DenseRawVmcs</c>). Linux reads Hyper-V's enlightened VMCS
    /// the same way: <c>__always_inline get_evmcs_offset</c> (arch/x86/kvm/vmx/vmx_onhyperv.h) looks the field up in
    /// <c>vmcs_field_to_evmcs_1[ROL16(field, 6)]</c> (hyperv_evmcs.h) and reads <c>current_evmcs + offset</c> with one load.
    /// </summary>
    private static void EmitOffsetAndSize(SourceWriter writer)
    {
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// The vmcs12 offset (bits 15:0) and access size in bytes (bits 19:16: 2, 4 or 8; a _HIGH form is 4 bytes at the full");
        writer.WriteLine("/// field's offset + 4) of an encoding, or 0 if the layout lacks it, from the compact ROL16 table. The table is constant");
        writer.WriteLine("/// data, so for a constant encoding the JIT folds the whole lookup to one constant: a backend that keeps its values at");
        writer.WriteLine("/// vmcs12's offsets (as Hyper-V's enlightened VMCS keeps fields at published offsets) then reads or writes a field");
        writer.WriteLine("/// with one load or store. For an encoding known only at run time <see cref=\"TryGetOffset\"/> is the faster lookup;");
        writer.WriteLine("/// both give the same offsets.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.MethodImpl);
        using (writer.Block("public static uint OffsetAndSize(uint encoding)"))
        {
            writer.WriteLine("global::System.ReadOnlySpan<ushort> table = CompactOffsets;");
            writer.WriteLine("// Bits 31:15 set (never a valid encoding) put the index past the table.");
            writer.WriteLine("var index = (uint)(ushort)((encoding << 6) | (encoding >> 10)) | (encoding & 0xFFFF8000u);");
            writer.WriteLine("if (index >= (uint)table.Length || table[(int)index] == 0)");
            writer.WriteLine("{");
            writer.WriteLine("    return 0;");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("// Bytes by width (bits 14:13), a nibble each: 16-bit 2, 64-bit 8, 32-bit 4, natural 8; a _HIGH form 4. No call, so");
            writer.WriteLine("// a copy loop does not spend the JIT's inlining budget on it.");
            writer.WriteLine("var size = (encoding & 1) != 0 ? 4u : (0x8482u >> (int)(((encoding >> 13) & 3) << 2)) & 0xF;");
            writer.WriteLine("return table[(int)index] | (size << 16);");
        }
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
        EmitOffsetAndSize(writer);
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
