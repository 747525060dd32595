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
    [property: JsonPropertyName("l1UserspaceTrips")] double UserspaceTrips,
    [property: JsonPropertyName("l1Injections")] double Injections,
    [property: JsonPropertyName("fixedCycles")] double FixedCycles,
    [property: JsonPropertyName("countedCycles")] double CountedCycles,
    [property: JsonPropertyName("cycles")] double Cycles,
    [property: JsonPropertyName("deltaVsKvm2018")] double? DeltaVsBaseline,
    [property: JsonPropertyName("changeVsKvm2018")] double? ChangeVsBaseline)
{
    public static RoundTripNumbers Of(StrategyResult r, StrategyResult? baseline)
    {
        var c = r.Total;
        var byCause = Enum.GetValues<ExitCause>()
            .Where(cause => c.Exits(cause) > 0)
            .ToDictionary(cause => cause.ToString().ToLowerInvariant(), cause => r.PerRound(c.Exits(cause)));
        var comparable = baseline is not null && baseline.Rounds > 0 && r.Faithful && baseline.Faithful;
        return new RoundTripNumbers(
            r.PerRound(c.L1Exits), byCause, r.PerRound(c.VmReads), r.PerRound(c.VmWrites), r.PerRound(c.ControlVmWrites),
            r.PerRound(c.VmPtrLds), r.PerRound(c.VmClears), r.PerRound(c.FullConsistencyChecks), r.PerRound(c.VcpuStateSwitches),
            r.PerRound(c.RuntimeLookups), r.PerRound(c.ShadowedVmreads + c.ShadowedVmwrites), r.PerRound(c.RareSyncs),
            r.PerRound(r.Events.GetValueOrDefault(CostModel.UserspaceEvent)), r.PerRound(r.Events.GetValueOrDefault(CostModel.InjectEvent)),
                r.PerRound(r.Cost.Fixed), r.PerRound(r.Cost.Counted), r.CyclesPerRound,
            comparable ? r.CyclesPerRound - baseline!.CyclesPerRound : null,
            comparable ? (r.CyclesPerRound - baseline!.CyclesPerRound) / baseline.CyclesPerRound : null);
    }
}

public static class Report
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public const string Schema = "vmcsgen-nestedsim/2";
    public const string SuiteSchema = "vmcsgen-nestedsim-suite/1";
    public const string AdviseSchema = "vmcsgen-advise/1";

    public static void Table(IAnsiConsole console, IReadOnlyList<WorkloadResult> results, CostModel costs, int rounds, int seed)
    {
        console.MarkupLine("[bold]NestedSim[/]: modelled cost of one nested round trip (L2 exit → L1 handler → VMRESUME), " +
            $"{rounds:N0} rounds per workload, seed {seed}.");
        console.MarkupLine("Counts are per round trip. cycles = fixed work of the transitions + counted work × the cost model " +
            "(samples/NestedSim/README.md). Δ is against kvm-2018.");
        foreach (var result in results)
        {
            console.WriteLine();
            console.MarkupLine($"[bold]{Markup.Escape(result.Workload.Name)}[/]: {Markup.Escape(result.Workload.Description)}");
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var column in new[] { "strategy", "L1 exits", "by cause", "VMREAD", "VMWRITE", "ctl VMWRITE", "VMPTRLD", "full checks", "fixed", "counted",
                "cycles", "Δ cycles", "Δ" })
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
                    Markup.Escape(r.Strategy.Name) + (r.Faithful ? "" : " [red]✗ unfaithful[/]"), F(n.L1Exits), Markup.Escape(causes), F(n.VmReads, 1),
                        F(n.VmWrites, 1), F(n.ControlVmWrites),
                    F(n.VmPtrLds), F(n.FullConsistencyChecks), N(n.FixedCycles), N(n.CountedCycles), N(n.Cycles),
                    n.DeltaVsBaseline is { } delta ? delta.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture) : "",
                    n.ChangeVsBaseline is { } d ? Percent(d) : r.Faithful ? "" : "[red]not compared[/]");
            }

            console.Write(table);
            foreach (var r in result.Strategies.Where(r => !r.Faithful))
            {
                console.MarkupLine($"[red]{Markup.Escape(r.Strategy.Name)} did not run this workload faithfully[/]: " +
                    $"{r.FailedAccesses.Values.Sum():N0} L1 accesses failed (VMfail) on {Markup.Escape(r.Strategy.Layout.ManifestFile)}, which lacks " +
                    Markup.Escape(string.Join(", ", r.FailedAccesses.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} ({kv.Value:N0})"))) +
                    ". Its cycles are not comparable and it gets no Δ.");
            }
        }

        console.WriteLine();
        console.MarkupLine("Cost model (cycles): " +
            Markup.Escape(string.Join(", ", costs.Cycles.Select(kv => $"{kv.Key} {kv.Value.ToString("0.#", CultureInfo.InvariantCulture)}"))));
    }

    /// <summary>The suite view: per test, modelled cycles per iteration before and after the 2019 series, and the published figures.</summary>
    public static void SuiteTable(IAnsiConsole console, string suite, IReadOnlyList<SuiteTest> tests, CostModel costs, int rounds, int seed)
    {
        var from = tests.Count > 0 ? tests[0].Before.Strategy.Name : Suite.Before;
        var to = tests.Count > 0 ? tests[0].After.Strategy.Name : Suite.After;
        var the2019Pair = from == Suite.Before && to == Suite.After;
        console.MarkupLine($"[bold]NestedSim --suite {Markup.Escape(suite)}[/]: modelled cycles per test iteration, " +
            $"{Markup.Escape(from)}{(the2019Pair ? " (before the 2019 series)" : "")} → {Markup.Escape(to)}, {rounds:N0} rounds per test, seed {seed}.");
        console.MarkupLine(the2019Pair
            ? "Published: nested vmexit.flat, \"[[PATCH 00/43]] VMX optimizations\", 2019-06-13. A test with 0 round trips never exits to L1 as run nested."
            : "No published figures for this pair. A test with 0 round trips never exits to L1 as run nested.");
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in new[] { "test", "round trips", "before", "after", "Δ", "change", "published before", "published after", "published change",
            "off by" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        table.Columns[0].LeftAligned();
        foreach (var t in tests)
        {
            var p = t.Published;
            table.AddRow(
                Markup.Escape(t.Name), t.Workload.PerIteration.ToString(CultureInfo.InvariantCulture), N(t.BeforeCycles), N(t.AfterCycles),
                t.Delta.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture), Percent(t.Change),
                p is null ? "" : N(p.Before), p is null ? "" : N(p.After), p is null ? "" : Percent(p.Change),
                p is null ? "" : ((t.Change - p.Change) * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " pt");
        }

        console.Write(table);
        console.WriteLine();
        console.MarkupLine("Cost model (cycles): " +
            Markup.Escape(string.Join(", ", costs.Cycles.Select(kv => $"{kv.Key} {kv.Value.ToString("0.#", CultureInfo.InvariantCulture)}"))));
    }

    /// <summary>One strategy's side of a suite test in JSON (the suite's and the history's documents share it).</summary>
    private static object Side(StrategyResult r) => new
    {
        strategy = r.Strategy.Name,
        cycles = r.CyclesPerIteration,
        fixedCycles = r.PerRound(r.Cost.Fixed) * r.PerIteration,
        countedCycles = r.PerRound(r.Cost.Counted) * r.PerIteration,
        faithful = r.Faithful,
    };

    public static string SuiteToJson(string suite, IReadOnlyList<SuiteTest> tests, CostModel costs, int rounds, int seed)
    {
        return JsonSerializer.Serialize(new
        {
            schema = SuiteSchema,
            suite,
            from = tests.Count > 0 ? tests[0].Before.Strategy.Name : Suite.Before,
            to = tests.Count > 0 ? tests[0].After.Strategy.Name : Suite.After,
            rounds,
            seed,
            costs = costs.Cycles,
            tests = tests.Select(t => new
            {
                name = t.Name,
                roundTripsPerIteration = t.Workload.PerIteration,
                before = Side(t.Before),
                after = Side(t.After),
                delta = t.Delta,
                change = t.Change,
                changePercent = t.Change * 100,
                published = t.Published is { } p ? new { before = p.Before, after = p.After, delta = p.After - p.Before, change = p.Change,
                    changePercent = p.Change * 100 } : null,
            }),
        }, Json);
    }

    /// <summary>The history view: per test, modelled cycles per iteration on each version and the change from the one before.</summary>
    public static void HistoryTable(IAnsiConsole console, string suite, IReadOnlyList<SuiteHistory> tests, CostModel costs, int rounds, int seed)
    {
        var versions = tests.Count > 0 ? tests[0].Versions.Select(v => v.Strategy.Name).ToList() : Strategies.History.ToList();
        console.MarkupLine($"[bold]NestedSim --suite {Markup.Escape(suite)} --history[/]: modelled cycles per test iteration on " +
            $"{Markup.Escape(string.Join(", ", versions))}, {rounds:N0} rounds per test, seed {seed}.");
        console.MarkupLine("kvm-2017 is Linux 4.15, before KVM's December 2017 series; kvm-2018 before the 2019 series; kvm today. A test with 0 round trips " +
            "never exits to L1 as run nested.");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn(new TableColumn("test"));
        table.AddColumn(new TableColumn("round trips").RightAligned());
        for (var i = 0; i < versions.Count; i++)
        {
            if (i > 0)
            {
                table.AddColumn(new TableColumn($"Δ {versions[i - 1]} → {versions[i]}").RightAligned());
            }

            table.AddColumn(new TableColumn(versions[i]).RightAligned());
        }

        foreach (var t in tests)
        {
            var cells = new List<string> { Markup.Escape(t.Name), t.Workload.PerIteration.ToString(CultureInfo.InvariantCulture) };
            var steps = t.Steps.ToList();
            for (var i = 0; i < t.Versions.Count; i++)
            {
                if (i > 0)
                {
                    cells.Add($"{steps[i - 1].Delta.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture)} ({Percent(steps[i - 1].Change)})");
                }

                cells.Add(N(t.Versions[i].CyclesPerIteration));
            }

            table.AddRow(cells.ToArray());
        }

        console.Write(table);
        console.WriteLine();
        console.MarkupLine("Cost model (cycles): " +
            Markup.Escape(string.Join(", ", costs.Cycles.Select(kv => $"{kv.Key} {kv.Value.ToString("0.#", CultureInfo.InvariantCulture)}"))));
    }

    public const string HistorySchema = "vmcsgen-nestedsim-history/1";

    public static string HistoryToJson(string suite, IReadOnlyList<SuiteHistory> tests, CostModel costs, int rounds, int seed)
    {
        return JsonSerializer.Serialize(new
        {
            schema = HistorySchema,
            suite,
            versions = tests.Count > 0 ? tests[0].Versions.Select(v => v.Strategy.Name).ToArray() : Strategies.History.ToArray(),
            rounds,
            seed,
            costs = costs.Cycles,
            tests = tests.Select(t => new
            {
                name = t.Name,
                roundTripsPerIteration = t.Workload.PerIteration,
                versions = t.Versions.Select(Side),
                changes = t.Steps.Select(s => new { from = s.From.Strategy.Name, to = s.To.Strategy.Name, delta = s.Delta, change = s.Change,
                    changePercent = s.Change * 100 }),
                before = Side(t.Versions[0]),
                after = Side(t.Versions[^1]),
            }),
        }, Json);
    }

    public static string HistoryToCsv(IReadOnlyList<SuiteHistory> tests)
    {
        var csv = new StringBuilder();
        csv.AppendLine("test,round_trips_per_iteration,strategy,cycles,fixed_cycles,counted_cycles,delta_vs_previous,change_vs_previous");
        foreach (var t in tests)
        {
            var steps = t.Steps.ToList();
            for (var i = 0; i < t.Versions.Count; i++)
            {
                var r = t.Versions[i];
                csv.AppendLine(Cells([
                    t.Name, t.Workload.PerIteration, r.Strategy.Name, r.CyclesPerIteration, r.PerRound(r.Cost.Fixed) * r.PerIteration,
                        r.PerRound(r.Cost.Counted) * r.PerIteration,
                    i == 0 ? null : steps[i - 1].Delta, i == 0 ? null : steps[i - 1].Change,
                ]));
            }
        }

        return csv.ToString();
    }

    public static string SuiteToCsv(IReadOnlyList<SuiteTest> tests)
    {
        var csv = new StringBuilder();
        csv.AppendLine("test,round_trips_per_iteration,before_cycles,before_fixed,before_counted,after_cycles,after_fixed,after_counted,delta,change," +
            "published_before,published_after,published_change");
        foreach (var t in tests)
        {
            var cells = new object?[]
            {
                t.Name, t.Workload.PerIteration, t.BeforeCycles, t.Before.PerRound(t.Before.Cost.Fixed) * t.Before.PerIteration,
                    t.Before.PerRound(t.Before.Cost.Counted) * t.Before.PerIteration,
                t.AfterCycles, t.After.PerRound(t.After.Cost.Fixed) * t.After.PerIteration, t.After.PerRound(t.After.Cost.Counted) * t.After.PerIteration,
                t.Delta, t.Change, t.Published?.Before, t.Published?.After, t.Published?.Change,
            };
            csv.AppendLine(Cells(cells));
        }

        return csv.ToString();
    }

    public static string ToJson(IReadOnlyList<WorkloadResult> results, CostModel costs, int rounds, int seed) =>
        JsonSerializer.Serialize(new
        {
            schema = Schema,
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
                    faithful = s.Faithful,
                    failedAccesses = s.FailedAccesses,
                    perRoundTrip = RoundTripNumbers.Of(s, w.Baseline),
                }),
            }),
        }, Json);

    public static string ToCsv(IReadOnlyList<WorkloadResult> results)
    {
        var csv = new StringBuilder();
        csv.AppendLine("workload,strategy,manifest,faithful,failed_accesses,l1_exits,vmread_exits,vmwrite_exits,vmptrld_exits,vmclear_exits,vmlaunch_exits," +
            "vmresume_exits,vmreads,vmwrites,control_vmwrites,vmptrlds,vmclears,full_consistency_checks,vcpu_state_switches,runtime_offset_lookups," +
            "shadowed_accesses,rare_syncs,l1_userspace_trips,l1_injections,fixed_cycles,counted_cycles,cycles,delta_vs_kvm2018,change_vs_kvm2018");
        foreach (var w in results)
        {
            foreach (var s in w.Strategies)
            {
                var n = RoundTripNumbers.Of(s, w.Baseline);
                double Cause(ExitCause c) => s.PerRound(s.Total.Exits(c));
                var cells = new object?[]
                {
                    w.Workload.Name, s.Strategy.Name, s.Strategy.Layout.ManifestFile, s.Faithful ? "yes" : "no", s.FailedAccesses.Values.Sum(), n.L1Exits,
                    Cause(ExitCause.Vmread), Cause(ExitCause.Vmwrite), Cause(ExitCause.Vmptrld), Cause(ExitCause.Vmclear), Cause(ExitCause.Vmlaunch),
                        Cause(ExitCause.Vmresume),
                    n.VmReads, n.VmWrites, n.ControlVmWrites, n.VmPtrLds, n.VmClears, n.FullConsistencyChecks, n.VcpuStateSwitches, n.RuntimeLookups,
                    n.ShadowedAccesses, n.RareSyncs, n.UserspaceTrips, n.Injections, n.FixedCycles, n.CountedCycles, n.Cycles, n.DeltaVsBaseline,
                        n.ChangeVsBaseline,
                };
                csv.AppendLine(Cells(cells));
            }
        }

        return csv.ToString();
    }

    private static string Cells(object?[] cells) => string.Join(",", cells.Select(c => c switch
    {
        null => "",
        double d => d.ToString("0.####", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => c.ToString(),
    }));

    private static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Percent(double fraction) => (fraction * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Two decimals (one for the big VMREAD/VMWRITE counts); three for small non-zero values, so they never read 0.00.</summary>
    private static string F(double value, int decimals = 2) =>
        value.ToString(value is > 0 and < 0.1 ? "0.000" : decimals == 1 ? "0.0" : "0.00", CultureInfo.InvariantCulture);
}
