using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>Layout</c>: the layout as the runtime's <c>IVmcsLayout</c>, so the nested engine is generic over layouts.</summary>
internal static class LayoutEmitter
{
    private const string VmxResult = GeneratedHeader.VmxResult;
    private const string Span = "global::System.Span<byte>";

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine($"/// <summary>The {manifest.LayoutName} layout for the runtime's nested engine: <c>NestedVmx&lt;Layout, ControlShadows, " +
            "TBackend&gt;</c>.</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public sealed class Layout : global::VmcsGen.IVmcsLayout<ControlShadows>"))
        {
            writer.WriteLine("private Layout()");
            writer.WriteLine("{");
            writer.WriteLine("}");
            writer.WriteLine();
            writer.WriteLine($"public static string Name => \"{manifest.LayoutName}\";");
            writer.WriteLine();
            writer.WriteLine("/// <summary>This layout as a value, for tools that choose a layout at run time.</summary>");
            writer.WriteLine($"public static global::VmcsGen.LayoutHandle Handle {{ get; }} = new global::VmcsGen.LayoutHandle<Layout, " +
                $"ControlShadows>(\"{manifest.Namespace}\", \"{manifest.FileName}\");");
            writer.WriteLine();
            writer.WriteLine("public static uint Revision => Vmcs12.Revision;");
            writer.WriteLine("public static int Size => Vmcs12.Size;");
            writer.WriteLine($"public static bool VmwriteAny => {(manifest.VmwriteAny ? "true" : "false")};");
            writer.WriteLine("public static ulong AllFeatures => (ulong)Features.All;");
            writer.WriteLine("public static uint AllDirtyGroups => (uint)DirtyGroups.All;");
            writer.WriteLine("public static global::System.ReadOnlySpan<global::VmcsGen.VmcsFieldDescriptor> Fields => VmcsFieldInfo.All;");
            writer.WriteLine("public static global::System.ReadOnlySpan<uint> ReadWriteEncodings => ShadowFields.ReadWriteEncodings;");
            writer.WriteLine("public static global::System.ReadOnlySpan<uint> ReadOnlyEncodings => ShadowFields.ReadOnlyEncodings;");
            writer.WriteLine();
            writer.WriteLine("public static bool TryGetField(uint encoding, out global::VmcsGen.VmcsFieldDescriptor field) => " +
                "VmcsFieldInfo.TryGetField(encoding, out field);");
            writer.WriteLine($"public static {VmxResult} Read({Span} vmcs12, uint encoding, out ulong value) => Vmcs12Access.Read(ref As(vmcs12), encoding, " +
                "out value);");
            writer.WriteLine($"public static {VmxResult} Write({Span} vmcs12, uint encoding, ulong value) => Vmcs12Access.Write(ref As(vmcs12), " +
                "encoding, value);");
            writer.WriteLine("public static bool TryGetOffsetCompact(uint encoding, out int offset) => Vmcs12Access.TryGetOffsetCompact(encoding, " +
                "out offset);");
            writer.WriteLine($"public static void BuildBitmaps(ulong features, {Span} vmread, " +
                $"{Span} vmwrite) => ShadowFields.BuildBitmaps((Features)features, vmread, vmwrite);");
            writer.WriteLine("public static uint DirtyGroupOf(uint encoding) => (uint)Dirty.GroupOf(encoding);");
            writer.WriteLine();
            Forward(writer, "CopyShadowToVmcs12", "shadow", "ShadowFields.CopyShadowToVmcs12");
            Forward(writer, "CopyVmcs12ToShadow", "shadow", "ShadowFields.CopyVmcs12ToShadow");
            Forward(writer, "SyncVmcs02ToVmcs12", "vmcs02", "ExitSync.SyncVmcs02ToVmcs12");
            Forward(writer, "SyncVmcs02ToVmcs12Rare", "vmcs02", "ExitSync.SyncVmcs02ToVmcs12Rare");
            writer.WriteLine($"public static {VmxResult} PrepareVmcs02<TVmcs>(ref TVmcs vmcs02, {Span} vmcs12, uint dirty, ulong features, " +
                "ref ControlShadows controls)");
            writer.WriteLine(ShadowFieldsEmitter.Constraint + " =>");
            writer.WriteLine("    EntryPrepare.PrepareVmcs02(ref vmcs02, ref As(vmcs12), (DirtyGroups)dirty, (Features)features, ref controls);");
            writer.WriteLine();
            writer.WriteLine("/// <summary>vmcs12 bytes as the struct; throws if fewer than <see cref=\"Size\"/> bytes.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            writer.WriteLine($"private static ref Vmcs12 As({Span} vmcs12) => ref global::System.Runtime.InteropServices.MemoryMarshal.AsRef<Vmcs12>(vmcs12);");
        }
    }

    private static void Forward(SourceWriter writer, string name, string vmcs, string target)
    {
        writer.WriteLine($"public static {VmxResult} {name}<TVmcs>(ref TVmcs {vmcs}, {Span} vmcs12, ulong features)");
        writer.WriteLine(ShadowFieldsEmitter.Constraint + " =>");
        writer.WriteLine($"    {target}(ref {vmcs}, ref As(vmcs12), (Features)features);");
        writer.WriteLine();
    }
}
