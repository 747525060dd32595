using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>EntryPrepare</c>: the nested VM-entry side, vmcs12 → vmcs02 by dirty group (shadow-rw fields on every entry).</summary>
internal static class EntryPrepareEmitter
{
    private const string VmxResult = GeneratedHeader.VmxResult;

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        var entry = manifest.EntryFields.ToList();
        var always = manifest.EntryEveryTime.ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The nested VM-entry side of the {manifest.LayoutName} layout: vmcs12 → vmcs02. " +
            $"{always.Count} shadow-rw fields are written on");
        writer.WriteLine("/// every entry (L0 never sees L1 write them); the other control and guest-state fields only when their group is dirty.");
        writer.WriteLine("/// Control fields with a software shadow go through <see cref=\"ControlShadows\"/>, so an unchanged control costs no VMWRITE.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class EntryPrepare"))
        {
            writer.WriteLine($"public const int EveryEntryCount = {always.Count};");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Writes vmcs12 into vmcs02 (current on <paramref name=\"vmcs02\"/>) for one nested entry. " +
                "Returns the first failure.</summary>");
            writer.WriteLine($"public static {VmxResult} PrepareVmcs02<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, DirtyGroups dirty, Features available, " +
                "ref ControlShadows controls)");
            using (writer.Block(ShadowFieldsEmitter.Constraint))
            {
                writer.WriteLine($"var result = {VmxResult}.Succeed;");
                FeatureGate.EmitRuns(writer, always, field => EmitEntryWrite(writer, field));
                foreach (var group in manifest.Groups)
                {
                    var members = entry.Where(f => f.GroupIndex == group.Bit).ToList();
                    if (members.Count == 0)
                    {
                        continue;
                    }

                    using (writer.Block($"if ((dirty & DirtyGroups.{group.CSharpName}) != 0)"))
                    {
                        FeatureGate.EmitRuns(writer, members, field => EmitEntryWrite(writer, field));
                    }
                }

                writer.WriteLine("return result;");
            }
        }
    }

    private static void EmitEntryWrite(SourceWriter writer, FieldSpec field)
    {
        writer.WriteLine(field.ControlShadow
            ? $"result = result.Then(controls.{GeneratedNames.ControlShadowSet}{field.CSharpName}(ref vmcs02, vmcs12.{field.CSharpName}));"
            : $"result = result.Then(vmcs02.VmWrite({GeneratedHeader.Hex(field.Encoding)}, vmcs12.{field.CSharpName}));");
    }
}
