using System;
using System.Linq;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>The advisor's JSON output (schema vmcsgen-advise/1).</summary>
public static partial class AdviseCommand
{
    /// <summary>Schema vmcsgen-advise/1 (samples/NestedSim/README.md): the same numbers as the tables.</summary>
    private static string ToJson(
        ManifestInput input, Advice advice, Verification? verification, string ns, AdviseOptions o, CostModel costs, string? written, TimeSpan? searchTime,
            string? comparedWith = null) =>
        System.Text.Json.JsonSerializer.Serialize(new
        {
            schema = Report.AdviseSchema,
            command = comparedWith is null ? "advise" : "compare",
            manifest = input.Path,
            proposal = comparedWith is null ? new { file = written, layout = ns } : new { file = (string?)comparedWith, layout = ns },
            engine = "today's (NestedVmxOptions defaults)",
            rounds = o.Rounds,
            seed = o.Seed,
            costs = costs.Cycles,
            search = searchTime is { } t ? new { seconds = t.TotalSeconds, evaluations = advice.Evaluations, steps = advice.Steps } : null,
            workloads = advice.PerWorkload.Select(w => new { name = w.Workload, weight = w.Weight, before = w.Before, after = w.After }),
            weighted = new { before = advice.WeightedBefore, after = advice.WeightedAfter, saving = advice.Saving },
            changes = advice.Changes.Select(c => new
            {
                field = c.After.Name,
                before = c.Before.Describe(),
                after = c.After.Describe(),
                readShare = c.ReadShare,
                writeShare = c.WriteShare,
                cyclesSaved = double.IsNaN(c.Cycles) ? (double?)null : c.Cycles,
                perRoundTrip = c.Counts,
            }),
            robustness = advice.Robustness.Select(r => new { term = r.Term, min = r.Min, max = r.Max, savingAtMin = r.SavingAtMin, savingAtMax = r.SavingAtMax,
                holds = r.Holds }),
            worstCaseSaving = advice.WorstCaseSaving,
            robust = advice.Robust,
            verification = verification is null ? null : new
            {
                passed = verification.Passed,
                failure = verification.Failure,
                diagnostics = verification.Diagnostics,
                workloadsChecked = verification.WorkloadsChecked,
                safety = verification.Safety,
            },
        }, Report.Json);
}
