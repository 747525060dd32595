using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>Proving a proposal: it builds cleanly, its compiled engine counts what the model counts, and it equals the reference engine.</summary>
public static partial class AdviseCommand
{
    /// <summary>What proving a proposal found: diagnostics, how many workloads the engine matched the model on, the differential run.</summary>
    public sealed record Verification(IReadOnlyList<string> Diagnostics, int WorkloadsChecked, SafetyReport? Safety, string? Failure)
    {
        public bool Passed => Failure is null;
    }

    /// <summary>
    /// Builds the proposal with the generator (no diagnostic allowed), runs the profiles' round trips on its compiled engine
    /// and holds the counts to the model's, then runs the engine-equals-reference property on it.
    /// </summary>
    public static Verification Verify(
        string path, string text, Advice advice, IReadOnlyList<WorkloadProfile> profiles, IReadOnlyDictionary<string, uint> names,
        AdviseOptions o, CostModel costs, Action<string>? update = null)
    {
        update?.Invoke("compiling the proposal with the generator");
        var compiled = ManifestCompiler.Compile(path, text);
        if (compiled.Layout is null || compiled.Diagnostics.Count > 0)
        {
            return new Verification(compiled.Diagnostics, 0, null, "the proposal does not build cleanly: " +
                $"{compiled.Diagnostics.FirstOrDefault() ?? "no layout"}");
        }

        var options = new NestedVmxOptions();
        var strategy = new Strategy("proposal", path, compiled.Layout, options);
        var built = Classification.Of(compiled.Layout, new ManifestText(path, text).GroupNames());
        if (!built.Fields.Select(f => f.Encoding).SequenceEqual(advice.After.Fields.Select(f => f.Encoding)))
        {
            return new Verification(compiled.Diagnostics, 0, null, "the compiled proposal does not have the fields of the manifest it came from");
        }

        // The profiles index fields as the manifest does, and the proposal has the same fields: they apply as they are.
        var model = new CountModel(built, options);
        var checkedCount = 0;
        foreach (var profile in profiles.Where(p => p.Rounds > 0))
        {
            update?.Invoke($"running {profile.Workload.Name} on the proposal's engine");
            var engine = Simulator.Run(strategy, profile.Workload, names, profile.Trace, costs);
            var counted = model.Count(profile);
            if (counted != engine.Total)
            {
                return new Verification(compiled.Diagnostics, checkedCount, null, $"on {profile.Workload.Name} the compiled engine counted {engine.Total} " +
                    $"but the model {counted}");
            }

            checkedCount++;
        }

        update?.Invoke($"engine vs reference on {o.Safety} random sequences");
        var safety = SafetyCheck.Run(compiled.Layout, o.Safety, o.Seed, focus: advice.Changes.Select(c => c.After.Encoding).ToList());
        return new Verification(compiled.Diagnostics, checkedCount, safety, safety.Safe ? null : "the engine diverged from the reference engine: " +
            safety.Divergence);
    }
}
