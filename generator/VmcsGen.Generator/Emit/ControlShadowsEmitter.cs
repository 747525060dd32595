using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>ControlShadows</c>: L0's software copies of the control fields, written only when a value changes.</summary>
internal static class ControlShadowsEmitter
{
    private const string VmxResult = GeneratedHeader.VmxResult;

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        var shadowed = manifest.ControlShadowed.ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// L0's software copies of the control fields of one hardware VMCS (keep one per VMCS: vmcs01, vmcs02). Zeroed at");
        writer.WriteLine("/// creation like a cleared VMCS, never reset on a VMCS switch. A setter VMWRITEs only when the value changes, because a");
        writer.WriteLine("/// control VMWRITE makes the next VM-entry run every consistency check; a getter never VMREADs.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public struct ControlShadows"))
        {
            writer.WriteLine($"public const int {GeneratedNames.ControlShadowsCount} = {shadowed.Count};");
            foreach (var field in shadowed)
            {
                writer.WriteLine($"private {GeneratedHeader.CSharpType(field.Width)} _{Camel(field.CSharpName)};");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>VMWRITEs the setters actually issued (unchanged values cost none).</summary>");
            writer.WriteLine($"public long {GeneratedNames.ControlShadowsWrites} {{ readonly get; private set; }}");
            foreach (var field in shadowed)
            {
                var type = GeneratedHeader.CSharpType(field.Width);
                var slot = "_" + Camel(field.CSharpName);
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: the value last written to this VMCS (no VMREAD).</summary>");
                writer.WriteLine($"public readonly {type} {field.CSharpName} => {slot};");
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: VMWRITE only if <paramref name=\"value\"/> differs from the shadow.</summary>");
                writer.WriteLine(GeneratedHeader.MethodImpl);
                writer.WriteLine($"public {VmxResult} {GeneratedNames.ControlShadowSet}{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} value)");
                using (writer.Block(ShadowFieldsEmitter.Constraint))
                {
                    writer.WriteLine($"if (value == {slot})");
                    writer.WriteLine("{");
                    writer.WriteLine($"    return {VmxResult}.Succeed;");
                    writer.WriteLine("}");
                    writer.WriteLine();
                    writer.WriteLine($"{GeneratedNames.ControlShadowsWrites}++;");
                    writer.WriteLine($"var result = vmcs.VmWrite({GeneratedHeader.Hex(field.Encoding)}, value);");
                    writer.WriteLine("if (result.IsSuccess)");
                    writer.WriteLine("{");
                    writer.WriteLine($"    {slot} = value;");
                    writer.WriteLine("}");
                    writer.WriteLine();
                    writer.WriteLine("return result;");
                }

                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: sets <paramref name=\"bits\"/> (VMWRITE only if that changes the value).</summary>");
                writer.WriteLine($"public {VmxResult} {GeneratedNames.ControlShadowSetBits}{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} bits)");
                writer.WriteLine($"    where TVmcs : struct, global::VmcsGen.IVmcs => {GeneratedNames.ControlShadowSet}{field.CSharpName}(ref vmcs, " +
                    $"{slot} | bits);");
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: clears <paramref name=\"bits\"/> (VMWRITE only if that changes the value).</summary>");
                writer.WriteLine($"public {VmxResult} {GeneratedNames.ControlShadowClearBits}{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} bits)");
                writer.WriteLine($"    where TVmcs : struct, global::VmcsGen.IVmcs => {GeneratedNames.ControlShadowSet}{field.CSharpName}(ref vmcs, " +
                    $"{slot} & ~bits);");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Whether an encoding (full or _HIGH form) has a software shadow in this layout.</summary>");
            writer.WriteLine("public static bool IsShadowed(uint encoding) => (encoding & ~1U) switch");
            writer.WriteLine("{");
            writer.Indent();
            if (shadowed.Count > 0)
            {
                writer.WriteLine(string.Join(" or ", shadowed.Select(f => GeneratedHeader.Hex(f.Encoding))) + " => true,");
            }

            writer.WriteLine("_ => false,");
            writer.Unindent();
            writer.WriteLine("};");
        }
    }

    private static string Camel(string pascal) => char.ToLowerInvariant(pascal[0]) + pascal.Substring(1);
}
