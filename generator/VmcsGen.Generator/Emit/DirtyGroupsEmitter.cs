using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>DirtyGroups</c> and <c>Dirty</c>: the dirty-tracking groups of the entry side and which group a field dirties.</summary>
internal static class DirtyGroupsEmitter
{
    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>Dirty-tracking groups of the entry side: a trapped VMWRITE marks its field's group; nested entry rewrites the marked " +
            "groups.</summary>");
        writer.WriteLine("[global::System.Flags]");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public enum DirtyGroups : uint"))
        {
            writer.WriteLine("None = 0,");
            uint all = 0;
            foreach (var group in manifest.Groups)
            {
                var count = manifest.Fields.Count(f => f.GroupIndex == group.Bit);
                writer.WriteLine($"/// <summary>Group <c>{group.Name}</c>: {count} fields.</summary>");
                writer.WriteLine($"{group.CSharpName} = 1U << {group.Bit},");
                all |= 1u << group.Bit;
            }

            writer.WriteLine("/// <summary>Every group: what VMPTRLD of a new vmcs12 and a restored nested state need.</summary>");
            writer.WriteLine("All = 0x" + all.ToString("X", System.Globalization.CultureInfo.InvariantCulture) + "U,");
        }

        writer.WriteLine();
        writer.WriteLine("/// <summary>Which group a field dirties; shadow-rw fields dirty none (they are rewritten on every entry).</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class Dirty"))
        {
            writer.WriteLine("/// <summary>Marks the field's group; with a constant field the JIT folds this to one OR.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            writer.WriteLine("public static void MarkDirty(this ref DirtyGroups dirty, VmcsField field) => dirty |= GroupOf((uint)field);");
            writer.WriteLine();
            writer.WriteLine("/// <summary>The group of an encoding (full or _HIGH form); None for shadow-rw fields and unknown encodings.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            using (writer.Block("public static DirtyGroups GroupOf(uint encoding)"))
            {
                writer.WriteLine("switch (encoding & ~1U)");
                writer.WriteLine("{");
                writer.Indent();
                foreach (var group in manifest.Groups)
                {
                    var members = manifest.Fields.Where(f => f.GroupIndex == group.Bit).ToList();
                    foreach (var field in members)
                    {
                        writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding)}:");
                    }

                    if (members.Count > 0)
                    {
                        writer.WriteLine($"    return DirtyGroups.{group.CSharpName};");
                    }
                }

                writer.WriteLine("default:");
                writer.WriteLine("    return DirtyGroups.None;");
                writer.Unindent();
                writer.WriteLine("}");
            }
        }
    }
}
