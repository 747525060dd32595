using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Feature-gated straight-line code: ungated fields first, then one <c>if</c> per feature around its fields.</summary>
internal static class FeatureGate
{
    public static void EmitRuns(SourceWriter writer, List<FieldSpec> fields, Action<FieldSpec> emit)
    {
        foreach (var field in fields.Where(f => f.Feature is null))
        {
            emit(field);
        }

        foreach (var run in fields.Where(f => f.Feature is not null).GroupBy(f => f.Feature))
        {
            using (writer.Block($"if ((available & Features.{Semantics.ManifestBinder.ToPascalCase(run.Key!)}) != 0)"))
            {
                foreach (var field in run)
                {
                    emit(field);
                }
            }
        }
    }

    /// <summary>
    /// The body of every "VMREAD each field into vmcs12" method (shadow → vmcs12, vmcs02 → vmcs12): one VMREAD per field
    /// from <paramref name="source"/>, the first failure returned. No local is declared when there is nothing to read.
    /// </summary>
    public static void EmitReadsIntoVmcs12(SourceWriter writer, string source, List<FieldSpec> fields) =>
        EmitOnBackendLocal(writer, source, fields.Count > 0, () =>
        {
            writer.WriteLine($"var result = {GeneratedHeader.VmxResult}.Succeed;");
            if (fields.Count > 0)
            {
                writer.WriteLine("ulong value;");
            }

            EmitRuns(writer, fields, field =>
            {
                writer.WriteLine($"result = result.Then({BackendLocal}.VmRead({GeneratedHeader.Hex(field.Encoding)}, out value));");
                writer.WriteLine($"vmcs12.{field.CSharpName} = {ShadowFieldsEmitter.Narrow(field, "value")};");
            });
            writer.WriteLine("return result;");
        });

    /// <summary>The name copy loops give the backend while they run (see <see cref="EmitOnBackendLocal"/>).</summary>
    public const string BackendLocal = "backend";

    /// <summary>
    /// Runs a copy loop's body on a local copy of the backend struct, written back when the loop ends (also on an
    /// exception). Through the <c>ref</c> parameter the JIT must assume every vmcs12 store may overwrite the backend, so it
    /// reloads the backend's fields (an array, a processor reference) after each one; a local it keeps in registers.
    /// Each VMREAD/VMWRITE still runs on that backend, in order, with its own result: a struct backend with state of its
    /// own sees the same calls and ends in the same state (the copy-back); a <c>IVmcsHandle</c> needs no copy-back, and the
    /// JIT drops the test and the empty finally for it. With no field to move there is no copy.
    /// </summary>
    public static void EmitOnBackendLocal(SourceWriter writer, string parameter, bool any, Action body)
    {
        if (!any)
        {
            body();
            return;
        }

        writer.WriteLine($"var {BackendLocal} = {parameter};");
        using (writer.Block("try"))
        {
            body();
        }

        using (writer.Block("finally"))
        {
            // A handle's copies act on the same VMCS: nothing to write back (and no GC write barrier for its reference).
            using (writer.Block($"if ({BackendLocal} is not global::VmcsGen.IVmcsHandle)"))
            {
                writer.WriteLine($"{parameter} = {BackendLocal};");
            }
        }
    }
}
