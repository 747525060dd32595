using System.Globalization;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits the <c>Vmcs12</c> struct: the explicit in-memory layout, header members and offset constants.</summary>
internal static class Vmcs12Emitter
{
    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        var inv = CultureInfo.InvariantCulture;
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// The " + manifest.LayoutName + " vmcs12 image: " + manifest.Size.ToString(inv) + " bytes, revision " +
            GeneratedHeader.Hex(manifest.Revision) + ", a " +
            manifest.HeaderSize.ToString(inv) + "-byte header, " + manifest.Fields.Length.ToString(inv) + " fields at " +
            (manifest.ExplicitOffsets ? "the manifest's fixed offsets." : "offsets laid out by the generator."));
        writer.WriteLine("/// Field members are plain fields at their offsets, so <c>ref</c> access and copies compile to direct loads and stores.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("[global::System.Runtime.InteropServices.StructLayout(global::System.Runtime.InteropServices.LayoutKind.Explicit, " +
            $"Size = {manifest.Size})]");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public partial struct Vmcs12"))
        {
            writer.WriteLine("/// <summary>The VMCS revision identifier of this layout (bits 30:0 of the first dword).</summary>");
            writer.WriteLine($"public const uint Revision = {GeneratedHeader.Hex(manifest.Revision)};");
            writer.WriteLine("/// <summary>Size of the region in bytes.</summary>");
            writer.WriteLine($"public const int Size = {manifest.Size};");
            writer.WriteLine("/// <summary>Bytes [0, HeaderSize) are reserved: revision @0, abort indicator @4, launch state @8.</summary>");
            writer.WriteLine($"public const int HeaderSize = {manifest.HeaderSize};");
            writer.WriteLine();
            writer.WriteLine("[global::System.Runtime.InteropServices.FieldOffset(0)]");
            writer.WriteLine("private uint _revisionDword;");
            writer.WriteLine();
            writer.WriteLine("/// <summary>VMX-abort indicator (offset 4).</summary>");
            writer.WriteLine("[global::System.Runtime.InteropServices.FieldOffset(4)]");
            writer.WriteLine("public uint AbortIndicator;");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Launch state (offset 8): 0 clear (after VMCLEAR), 1 launched (after a successful VMLAUNCH).</summary>");
            writer.WriteLine("[global::System.Runtime.InteropServices.FieldOffset(8)]");
            writer.WriteLine("public uint LaunchState;");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Bits 30:0 of the first dword.</summary>");
            using (writer.Block("public uint RevisionId"))
            {
                writer.WriteLine("readonly get => _revisionDword & 0x7FFFFFFFu;");
                writer.WriteLine("set => _revisionDword = (_revisionDword & 0x80000000u) | (value & 0x7FFFFFFFu);");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Bit 31 of the first dword: set in a shadow VMCS.</summary>");
            using (writer.Block("public bool ShadowIndicator"))
            {
                writer.WriteLine("readonly get => (_revisionDword & 0x80000000u) != 0;");
                writer.WriteLine("set => _revisionDword = value ? _revisionDword | 0x80000000u : _revisionDword & 0x7FFFFFFFu;");
            }

            foreach (var field in manifest.Fields)
            {
                writer.WriteLine();
                writer.WriteLine("/// <summary>" + FieldEnumEmitter.Describe(field) + "</summary>");
                writer.WriteLine($"[global::System.Runtime.InteropServices.FieldOffset({field.Offset})]");
                writer.WriteLine("public " + GeneratedHeader.CSharpType(field.Width) + " " + field.CSharpName + ";");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>A zeroed image with this layout's revision identifier.</summary>");
            writer.WriteLine("public static Vmcs12 Create() => new() { RevisionId = Revision };");
            writer.WriteLine();
            writer.WriteLine("/// <summary>The whole region as bytes (no copy).</summary>");
            writer.WriteLine("public static global::System.Span<byte> AsBytes(ref Vmcs12 vmcs12) =>");
            writer.WriteLine("    global::System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref " +
                "global::System.Runtime.CompilerServices.Unsafe.As<Vmcs12, byte>(ref vmcs12), Size);");
            writer.WriteLine();
            writer.WriteLine("/// <summary>The vmcs12 byte offset of every field, as compile-time constants.</summary>");
            using (writer.Block("public static class Offsets"))
            {
                foreach (var field in manifest.Fields)
                {
                    writer.WriteLine($"public const int {field.CSharpName} = {field.Offset};");
                }
            }
        }
    }
}
