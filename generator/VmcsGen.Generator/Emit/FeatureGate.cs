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
}
