using System.Globalization;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>VmcsFieldInfo</c>: a descriptor per field and per _HIGH form, and the lookup by encoding.</summary>
internal static class FieldInfoEmitter
{
    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        const string descriptor = "global::VmcsGen.VmcsFieldDescriptor";
        writer.WriteLine("/// <summary>What the " + manifest.LayoutName + " layout knows about each field: width, type, class, offset, feature, " +
            "group.</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class VmcsFieldInfo"))
        {
            writer.WriteLine($"/// <summary>Number of fields (not counting _HIGH forms).</summary>");
            writer.WriteLine($"public const int Count = {manifest.Fields.Length};");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Every field's full-access descriptor, in encoding order.</summary>");
            writer.WriteLine("public static global::System.ReadOnlySpan<" + descriptor + "> All => s_all;");
            writer.WriteLine();
            using (writer.Block("private static readonly " + descriptor + "[] s_all =", ";"))
            {
                foreach (var field in manifest.Fields)
                {
                    writer.WriteLine(New(field, high: false) + ",");
                }
            }

            writer.WriteLine();
            using (writer.Block("private static readonly " + descriptor + "[] s_high =", ";"))
            {
                foreach (var field in manifest.Fields)
                {
                    if (field.Is64Bit)
                    {
                        writer.WriteLine(New(field, high: true) + ",");
                    }
                }
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Finds the descriptor of an encoding, full or _HIGH form; false for an encoding the layout lacks. " +
                "One load in <c>Vmcs12Access</c>'s table by encoding.</summary>");
            using (writer.Block("public static bool TryGetField(uint encoding, out " + descriptor + " field)"))
            {
                writer.WriteLine("var index = (int)(Vmcs12Access.Entry(encoding) & 0xFFFF) - 1;");
                writer.WriteLine("if (index < 0)");
                writer.WriteLine("{");
                writer.WriteLine("    field = default;");
                writer.WriteLine("    return false;");
                writer.WriteLine("}");
                writer.WriteLine();
                writer.WriteLine("field = index < Count ? s_all[index] : s_high[index - Count];");
                writer.WriteLine("return true;");
            }
            writer.WriteLine();
            writer.WriteLine("/// <summary>The descriptor of a field of this layout.</summary>");
            using (writer.Block("public static " + descriptor + " Get(VmcsField field)"))
            {
                writer.WriteLine("if (TryGetField((uint)field, out var descriptor))");
                writer.WriteLine("{");
                writer.WriteLine("    return descriptor;");
                writer.WriteLine("}");
                writer.WriteLine();
                writer.WriteLine("throw new global::System.ArgumentOutOfRangeException(nameof(field), field, \"Not a field of the " + manifest.LayoutName +
                    " layout.\");");
            }
        }
    }

    private static string New(FieldSpec field, bool high)
    {
        var inv = CultureInfo.InvariantCulture;
        var feature = field.Feature is null ? "null" : "\"" + field.Feature + "\"";
        var featureMask = field.FeatureBit < 0 ? "0UL" : "1UL << " + field.FeatureBit.ToString(inv);
        var groupMask = field.GroupIndex < 0 ? "0U" : "1U << " + field.GroupIndex.ToString(inv);
        return "new(\"" + field.Name + (high ? "_HIGH" : string.Empty) + "\", \"" + field.CSharpName + "\", " +
            GeneratedHeader.Hex(high ? field.Encoding | 1 : field.Encoding) + ", " +
            GeneratedHeader.RuntimeWidth(field.Width) + ", " + GeneratedHeader.RuntimeType(field.Type) + ", " +
            GeneratedHeader.RuntimeClass(field.Class) + ", " + (field.Offset + (high ? 4 : 0)).ToString(inv) + ", " +
            (field.ControlShadow ? "true" : "false") + ", " + feature + ", " + featureMask + ", " + groupMask + ", " +
            (high ? "true" : "false") + ")";
    }
}
