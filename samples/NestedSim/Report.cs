using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>The results of one workload.</summary>
public sealed record WorkloadResult(Workload Workload, IReadOnlyList<StrategyResult> Strategies)
{
    public StrategyResult? Baseline => Strategies.FirstOrDefault(s => s.Strategy.Name == NestedSim.Strategies.Baseline);
}

/// <summary>Per-round-trip numbers as they appear in every output format.</summary>
public sealed record RoundTripNumbers(
    [property: JsonPropertyName("l1Exits")] double L1Exits,
    [property: JsonPropertyName("l1ExitsByCause")] IReadOnlyDictionary<string, double> L1ExitsByCause,
    [property: JsonPropertyName("vmreads")] double VmReads,
    [property: JsonPropertyName("vmwrites")] double VmWrites,
    [property: JsonPropertyName("controlVmwrites")] double ControlVmWrites,
    [property: JsonPropertyName("vmptrlds")] double VmPtrLds,
    [property: JsonPropertyName("vmclears")] double VmClears,
    [property: JsonPropertyName("fullConsistencyChecks")] double FullConsistencyChecks,
    [property: JsonPropertyName("vcpuStateSwitches")] double VcpuStateSwitches,
    [property: JsonPropertyName("runtimeOffsetLookups")] double RuntimeLookups,
    [property: JsonPropertyName("shadowedAccesses")] double ShadowedAccesses,
    [property: JsonPropertyName("rareSyncs")] double RareSyncs,
    [property: JsonPropertyName("cycles")] double Cycles,
    [property: JsonPropertyName("changeVsKvm2018")] double? ChangeVsBaseline)
{
    public static RoundTripNumbers Of(StrategyResult r, StrategyResult? baseline)
    {
        var c = r.Total;
        var byCause = Enum.GetValues<ExitCause>()
            .Where(cause => c.Exits(cause) > 0)
            .ToDictionary(cause => cause.ToString().ToLowerInvariant(), cause => r.PerRound(c.Exits(cause)));
        return new RoundTripNumbers(
            r.PerRound(c.L1Exits), byCause, r.PerRound(c.VmReads), r.PerRound(c.VmWrites), r.PerRound(c.ControlVmWrites),
            r.PerRound(c.VmPtrLds), r.PerRound(c.VmClears), r.PerRound(c.FullConsistencyChecks), r.PerRound(c.VcpuStateSwitches),
            r.PerRound(c.RuntimeLookups), r.PerRound(c.ShadowedVmreads + c.ShadowedVmwrites), r.PerRound(c.RareSyncs), r.CyclesPerRound,
            baseline is null ? null : (r.CyclesPerRound - baseline.CyclesPerRound) / baseline.CyclesPerRound);
    }
}

public static class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static void Table(IAnsiConsole console, IReadOnlyList<WorkloadResult> results, CostModel costs, int rounds, int seed)
    {
        console.MarkupLine($"[bold]NestedSim[/]: modelled cost of one nested round trip (L2 exit → L1 handler → VMRESUME), {rounds:N0} rounds per workload, seed {seed}.");
        console.MarkupLine("Counts are per round trip; cycles = counts × the cost model (samples/NestedSim/README.md). Δ is against kvm-2018.");
        foreach (var result in results)
        {
            console.WriteLine();
            console.MarkupLine($"[bold]{Markup.Escape(result.Workload.Name)}[/]: {Markup.Escape(result.Workload.Description)}");
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var column in new[] { "strategy", "L1 exits", "by cause", "VMREAD", "VMWRITE", "ctl VMWRITE", "VMPTRLD", "full checks", "cycles", "Δ" })
            {
                table.AddColumn(new TableColumn(column).RightAligned());
            }

            table.Columns[0].LeftAligned();
            table.Columns[2].LeftAligned();
            foreach (var r in result.Strategies)
            {
                var n = RoundTripNumbers.Of(r, result.Baseline);
                var causes = string.Join(" ", n.L1ExitsByCause.Select(kv => $"{kv.Key} {F(kv.Value)}"));
                table.AddRow(
                    Markup.Escape(r.Strategy.Name), F(n.L1Exits), Markup.Escape(causes), F(n.VmReads, 1), F(n.VmWrites, 1), F(n.ControlVmWrites),
                    F(n.VmPtrLds), F(n.FullConsistencyChecks), n.Cycles.ToString("N0", CultureInfo.InvariantCulture),
                    n.ChangeVsBaseline is { } d ? (d * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%" : "");
            }

            console.Write(table);
        }

        console.WriteLine();
        console.MarkupLine("Cost model (cycles): " + Markup.Escape(string.Join(", ", costs.Cycles.Select(kv => $"{kv.Key} {kv.Value.ToString(CultureInfo.InvariantCulture)}"))));
    }

    public static string ToJson(IReadOnlyList<WorkloadResult> results, CostModel costs, int rounds, int seed) =>
        JsonSerializer.Serialize(new
        {
            schema = "vmcsgen-nestedsim/1",
            rounds,
            seed,
            costs = costs.Cycles,
            workloads = results.Select(w => new
            {
                name = w.Workload.Name,
                description = w.Workload.Description,
                strategies = w.Strategies.Select(s => new
                {
                    name = s.Strategy.Name,
                    manifest = s.Strategy.Layout.ManifestFile,
                    description = s.Strategy.Description,
                    perRoundTrip = RoundTripNumbers.Of(s, w.Baseline),
                }),
            }),
        }, Json);

    public static string ToCsv(IReadOnlyList<WorkloadResult> results)
    {
        var csv = new StringBuilder();
        csv.AppendLine("workload,strategy,manifest,l1_exits,vmread_exits,vmwrite_exits,vmptrld_exits,vmclear_exits,vmlaunch_exits,vmresume_exits,vmreads,vmwrites,control_vmwrites,vmptrlds,vmclears,full_consistency_checks,vcpu_state_switches,runtime_offset_lookups,shadowed_accesses,rare_syncs,cycles,change_vs_kvm2018");
        foreach (var w in results)
        {
            foreach (var s in w.Strategies)
            {
                var n = RoundTripNumbers.Of(s, w.Baseline);
                double Cause(ExitCause c) => s.PerRound(s.Total.Exits(c));
                var cells = new object?[]
                {
                    w.Workload.Name, s.Strategy.Name, s.Strategy.Layout.ManifestFile, n.L1Exits,
                    Cause(ExitCause.Vmread), Cause(ExitCause.Vmwrite), Cause(ExitCause.Vmptrld), Cause(ExitCause.Vmclear), Cause(ExitCause.Vmlaunch), Cause(ExitCause.Vmresume),
                    n.VmReads, n.VmWrites, n.ControlVmWrites, n.VmPtrLds, n.VmClears, n.FullConsistencyChecks, n.VcpuStateSwitches, n.RuntimeLookups,
                    n.ShadowedAccesses, n.RareSyncs, n.Cycles, n.ChangeVsBaseline,
                };
                csv.AppendLine(string.Join(",", cells.Select(c => c switch
                {
                    null => "",
                    double d => d.ToString("0.####", CultureInfo.InvariantCulture),
                    _ => c.ToString(),
                })));
            }
        }

        return csv.ToString();
    }

    /// <summary>Two decimals (one for the big VMREAD/VMWRITE counts); three for small non-zero values, so they never read 0.00.</summary>
    private static string F(double value, int decimals = 2) =>
        value.ToString(value is > 0 and < 0.1 ? "0.000" : decimals == 1 ? "0.0" : "0.00", CultureInfo.InvariantCulture);
}
