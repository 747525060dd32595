using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// Emits <c>Vmcs12Access</c>: VMREAD/VMWRITE semantics on the in-memory vmcs12 by encoding, and the offset lookup
/// twice: as a compile-time switch, and as KVM's compact ROL16-indexed table.
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
            EmitRead(writer, manifest);
            writer.WriteLine();
            EmitWrite(writer, manifest);
            writer.WriteLine();
            EmitTryGetOffset(writer, manifest);
            writer.WriteLine();
            EmitCompact(writer, manifest);
        }
    }

    private static void EmitRead(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>VMREAD semantics: zero-extends to 64 bits; a _HIGH form reads bits 63:32; VMfailValid(12) for an encoding this layout lacks.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Read(ref Vmcs12 vmcs12, uint encoding, out ulong value)"))
        {
            using (writer.Block("switch (encoding)"))
            {
                foreach (var field in manifest.Fields)
                {
                    writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding)}: value = vmcs12.{field.CSharpName}; return {Succeed};");
                    if (field.Is64Bit)
                    {
                        writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding | 1)}: value = vmcs12.{field.CSharpName} >> 32; return {Succeed};");
                    }
                }

                writer.WriteLine($"default: value = 0; return {Unsupported};");
            }
        }
    }

    private static void EmitWrite(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>VMWRITE semantics on memory: truncates to the field's width; a _HIGH form writes bits 63:32 from the value's low 32 bits; VMfailValid(12) for an encoding this layout lacks. Read-only and feature checks are the caller's.</summary>");
        using (writer.Block("public static " + GeneratedHeader.VmxResult + " Write(ref Vmcs12 vmcs12, uint encoding, ulong value)"))
        {
            using (writer.Block("switch (encoding)"))
            {
                foreach (var field in manifest.Fields)
                {
                    var store = field.Width switch
                    {
                        FieldWidth.Bits16 => "(ushort)value",
                        FieldWidth.Bits32 => "(uint)value",
                        _ => "value",
                    };
                    writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding)}: vmcs12.{field.CSharpName} = {store}; return {Succeed};");
                    if (field.Is64Bit)
                    {
                        writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding | 1)}: vmcs12.{field.CSharpName} = (vmcs12.{field.CSharpName} & 0xFFFFFFFFUL) | ((ulong)(uint)value << 32); return {Succeed};");
                    }
                }

                writer.WriteLine($"default: return {Unsupported};");
            }
        }
    }

    private static void EmitTryGetOffset(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>The vmcs12 offset of an encoding (a _HIGH form is the full field's offset + 4), as a compile-time switch.</summary>");
        using (writer.Block("public static bool TryGetOffset(uint encoding, out int offset)"))
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
