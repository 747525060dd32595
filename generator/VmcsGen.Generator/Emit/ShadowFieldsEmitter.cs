using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// Emits <c>ShadowFields</c>: the RW and RO (encoding, offset) tables, the VMREAD/VMWRITE bitmaps as constant data,
/// <c>BuildBitmaps</c> for absent features, and the straight-line shadow copy loops.
/// </summary>
internal static class ShadowFieldsEmitter
{
    public const int BitmapBytes = 4096;
    private const string VmxResult = GeneratedHeader.VmxResult;
    public const string Constraint = "    where TVmcs : struct, global::VmcsGen.IVmcs";

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        var rw = manifest.ShadowReadWrite.ToList();
        var ro = manifest.ShadowReadOnly.ToList();

        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The shadow VMCS of the {manifest.LayoutName} layout: {rw.Count} read-write fields (neither access exits) and");
        writer.WriteLine($"/// {ro.Count} read-only fields (VMREAD does not exit, VMWRITE does). Offsets are compile-time constants.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class ShadowFields"))
        {
            writer.WriteLine($"public const int ReadWriteCount = {rw.Count};");
            writer.WriteLine($"public const int ReadOnlyCount = {ro.Count};");
            writer.WriteLine($"public const int BitmapSize = {BitmapBytes};");
            writer.WriteLine();
            EmitTable(writer, "ReadWrite", rw);
            EmitTable(writer, "ReadOnly", ro);
            EmitBitmaps(writer, rw, ro);
            EmitBuildBitmaps(writer, manifest, rw, ro);
            EmitCopyShadowToVmcs12(writer, rw);
            writer.WriteLine();
            EmitCopyVmcs12ToShadow(writer, rw, ro);
        }
    }

    private static void EmitTable(SourceWriter writer, string name, List<FieldSpec> fields)
    {
        var kind = name == "ReadWrite" ? "read-write" : "read-only";
        writer.WriteLine($"/// <summary>Encodings of the {kind} shadow fields, in encoding order.</summary>");
        var encodings = string.Join(", ", fields.Select(f => GeneratedHeader.Hex(f.Encoding)));
        writer.WriteLine($"public static global::System.ReadOnlySpan<uint> {name}Encodings => [{encodings}];");
        writer.WriteLine();
        writer.WriteLine($"/// <summary>vmcs12 offsets of <see cref=\"{name}Encodings\"/>, element for element.</summary>");
        var offsets = string.Join(", ", fields.Select(f => f.Offset.ToString(CultureInfo.InvariantCulture)));
        writer.WriteLine($"public static global::System.ReadOnlySpan<ushort> {name}Offsets => [{offsets}];");
        writer.WriteLine();
    }

    private static void EmitBitmaps(SourceWriter writer, List<FieldSpec> rw, List<FieldSpec> ro)
    {
        var vmread = Enumerable.Repeat((byte)0xFF, BitmapBytes).ToArray();
        var vmwrite = Enumerable.Repeat((byte)0xFF, BitmapBytes).ToArray();
        foreach (var field in rw)
        {
            ClearBits(vmread, field);
            ClearBits(vmwrite, field);
        }

        foreach (var field in ro)
        {
            ClearBits(vmread, field);
        }

        EmitBytes(
            writer,
            "VmreadBitmap",
            "VMREAD bitmap with every feature present: bit n = encoding n (byte n / 8, bit n % 8); a set bit makes L1's VMREAD exit.",
            vmread);
        EmitBytes(writer, "VmwriteBitmap", "VMWRITE bitmap with every feature present: a set bit makes L1's VMWRITE exit.", vmwrite);
    }

    private static void ClearBits(byte[] bitmap, FieldSpec field)
    {
        Clear(bitmap, field.Encoding);
        if (field.Is64Bit)
        {
            Clear(bitmap, field.Encoding | 1);
        }
    }

    private static void Clear(byte[] bitmap, uint encoding) => bitmap[encoding >> 3] &= (byte)~(1 << (int)(encoding & 7));

    private static void EmitBytes(SourceWriter writer, string name, string summary, byte[] bytes)
    {
        writer.WriteLine($"/// <summary>{summary}</summary>");
        writer.WriteLine($"public static global::System.ReadOnlySpan<byte> {name} =>");
        writer.WriteLine("[");
        writer.Indent();
        for (var i = 0; i < bytes.Length; i += 32)
        {
            writer.WriteLine(string.Join(", ", bytes.Skip(i).Take(32).Select(b => "0x" + b.ToString("X2", CultureInfo.InvariantCulture))) + ",");
        }

        writer.Unindent();
        writer.WriteLine("];");
        writer.WriteLine();
    }

    private static void EmitBuildBitmaps(SourceWriter writer, VmcsManifest manifest, List<FieldSpec> rw, List<FieldSpec> ro)
    {
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Fills 4096-byte VMREAD and VMWRITE bitmaps for the features the CPU has: a field whose feature is absent keeps its");
        writer.WriteLine("/// bits set, so L1's accesses to it exit and are emulated.");
        writer.WriteLine("/// </summary>");
        using (writer.Block("public static void BuildBitmaps(Features available, global::System.Span<byte> vmread, global::System.Span<byte> vmwrite)"))
        {
            writer.WriteLine("if (vmread.Length != BitmapSize || vmwrite.Length != BitmapSize)");
            writer.WriteLine("{");
            writer.WriteLine(
                "    throw new global::System.ArgumentException("
                + "$\"VMREAD/VMWRITE bitmaps are {BitmapSize} bytes each; got {vmread.Length} and {vmwrite.Length}.\");");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine("VmreadBitmap.CopyTo(vmread);");
            writer.WriteLine("VmwriteBitmap.CopyTo(vmwrite);");
            foreach (var feature in manifest.Features)
            {
                var gated = rw.Concat(ro).Where(f => f.FeatureBit == feature.Bit).ToList();
                if (gated.Count == 0)
                {
                    continue;
                }

                writer.WriteLine();
                using (writer.Block($"if ((available & Features.{feature.CSharpName}) == 0)"))
                {
                    foreach (var field in gated)
                    {
                        writer.WriteLine($"// {field.Name}");
                        foreach (var encoding in field.Is64Bit ? new[] { field.Encoding, field.Encoding | 1 } : new[] { field.Encoding })
                        {
                            var mask = "0x" + (1 << (int)(encoding & 7)).ToString("X2", CultureInfo.InvariantCulture);
                            writer.WriteLine($"vmread[{encoding >> 3}] |= {mask};");
                            if (field.Class == FieldClass.ShadowRw)
                            {
                                writer.WriteLine($"vmwrite[{encoding >> 3}] |= {mask};");
                            }
                        }
                    }
                }
            }
        }

        writer.WriteLine();
    }

    private static void EmitCopyShadowToVmcs12(SourceWriter writer, List<FieldSpec> rw)
    {
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Copies the read-write fields from the shadow VMCS (which must be current on <paramref name=\"shadow\"/>) into vmcs12:");
        writer.WriteLine("/// one VMREAD per field, 64-bit fields once. Read-only fields are never copied back. Returns the first failure.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine($"public static {VmxResult} CopyShadowToVmcs12<TVmcs>(ref TVmcs shadow, ref Vmcs12 vmcs12, Features available)");
        using (writer.Block(Constraint))
        {
            FeatureGate.EmitReadsIntoVmcs12(writer, "shadow", rw);
        }
    }

    private static void EmitCopyVmcs12ToShadow(SourceWriter writer, List<FieldSpec> rw, List<FieldSpec> ro)
    {
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Copies vmcs12 into the shadow VMCS (which must be current on <paramref name=\"shadow\"/>): read-write fields, then");
        writer.WriteLine("/// read-only ones; one VMWRITE per field, 64-bit fields once. Returns the first failure.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine($"public static {VmxResult} CopyVmcs12ToShadow<TVmcs>(ref TVmcs shadow, ref Vmcs12 vmcs12, Features available)");
        using (writer.Block(Constraint))
        {
            FeatureGate.EmitOnBackendLocal(writer, "shadow", rw.Count + ro.Count > 0, () =>
            {
                writer.WriteLine($"var result = {VmxResult}.Succeed;");
                foreach (var fields in new[] { rw, ro })
                {
                    FeatureGate.EmitRuns(writer, fields, field =>
                        writer.WriteLine(
                            $"result = result.Then({FeatureGate.BackendLocal}.VmWrite("
                            + $"{GeneratedHeader.Hex(field.Encoding)}, vmcs12.{field.CSharpName}));"));
                }

                writer.WriteLine("return result;");
            });
        }
    }

    public static string Narrow(FieldSpec field, string value) => field.Width switch
    {
        FieldWidth.Bits16 => "(ushort)" + value,
        FieldWidth.Bits32 => "(uint)" + value,
        _ => value,
    };
}
