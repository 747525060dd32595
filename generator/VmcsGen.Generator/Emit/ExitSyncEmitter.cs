using System.Collections.Generic;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>ExitSync</c>: the nested VM-exit side, vmcs02 → vmcs12 (the every-exit set on every exit, the rare set lazily).</summary>
internal static class ExitSyncEmitter
{
    private const string VmxResult = GeneratedHeader.VmxResult;

    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        var every = manifest.EveryExitSync.ToList();
        var rare = manifest.RareSync.ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The nested VM-exit side of the {manifest.LayoutName} layout: {every.Count} fields copied from vmcs02 to vmcs12 on every exit,");
        writer.WriteLine($"/// {rare.Count} rare fields copied only when somebody needs them, and the rare-set-stale flag.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public struct ExitSync"))
        {
            writer.WriteLine($"public const int EveryExitCount = {every.Count};");
            writer.WriteLine($"public const int RareCount = {rare.Count};");
            writer.WriteLine();
            writer.WriteLine("/// <summary>True when vmcs12's rare fields may be older than vmcs02's (set on every nested exit).</summary>");
            writer.WriteLine("public bool RareStale { readonly get; private set; }");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Called on every nested VM-exit instead of copying the rare set.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            writer.WriteLine("public void MarkRareStale() => RareStale = true;");
            writer.WriteLine();
            writer.WriteLine("/// <summary>");
            writer.WriteLine("/// Copies the rare set from vmcs02 (current on <paramref name=\"vmcs02\"/>) if it is stale, and clears the flag;");
            writer.WriteLine("/// does nothing when it is not. Call it before anything reads or overwrites a rare field of vmcs12.");
            writer.WriteLine("/// </summary>");
            writer.WriteLine($"public {VmxResult} EnsureRareSynced<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, Features available)");
            using (writer.Block(ShadowFieldsEmitter.Constraint))
            {
                writer.WriteLine("if (!RareStale)");
                writer.WriteLine("{");
                writer.WriteLine($"    return {VmxResult}.Succeed;");
                writer.WriteLine("}");
                writer.WriteLine();
                writer.WriteLine("RareStale = false;");
                writer.WriteLine("return SyncVmcs02ToVmcs12Rare(ref vmcs02, ref vmcs12, available);");
            }

            writer.WriteLine();
            EmitCopy(writer, "SyncVmcs02ToVmcs12", "Copies the every-exit set from vmcs02 (current on <paramref name=\"vmcs02\"/>) into vmcs12: " +
                "one VMREAD per field.", every);
            writer.WriteLine();
            EmitCopy(writer, "SyncVmcs02ToVmcs12Rare", "Copies the rare set from vmcs02 (current on <paramref name=\"vmcs02\"/>) into vmcs12: " +
                "one VMREAD per field.", rare);
        }
    }

    private static void EmitCopy(SourceWriter writer, string name, string summary, List<FieldSpec> fields)
    {
        writer.WriteLine($"/// <summary>{summary}</summary>");
        writer.WriteLine($"public static {VmxResult} {name}<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, Features available)");
        using (writer.Block(ShadowFieldsEmitter.Constraint))
        {
            FeatureGate.EmitReadsIntoVmcs12(writer, "vmcs02", fields);
        }
    }
}
