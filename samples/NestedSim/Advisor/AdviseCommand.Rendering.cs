using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>The advisor's tables and progress display.</summary>
public static partial class AdviseCommand
{
    private static void Print(IAnsiConsole console, ManifestInput input, Advice advice, TimeSpan searchTime, Verification verification, string ns)
    {
        console.MarkupLine($"[bold]advise[/] {Markup.Escape(Path.GetFileName(input.Path))} → proposal [bold]{Markup.Escape(ns)}[/] (today's engine; " +
            $"{advice.Evaluations:N0} classifications evaluated in {searchTime.TotalSeconds:0.0} s, {advice.Steps} steps)");
        PrintWorkloads(console, advice, "before", "proposal");
        PrintChanges(console, advice.Changes, "the proposal");
        PrintRobustness(console, advice);
        var s = verification.Safety;
        console.MarkupLine(verification.Passed
            ? $"[green]proved[/]: builds with no diagnostic; its compiled engine counted exactly what the model counted on {verification.WorkloadsChecked} " +
                $"workloads; engine = reference on {s!.Sequences} random sequences ({s.Events:N0} events, {s.L2Exits:N0} L2 exits, " +
                $"{s.TrappedAccesses:N0} trapped and {s.ShadowedAccesses:N0} shadowed accesses, {s.RareSyncs:N0} rare syncs)"
            : $"[red]not proved[/]: {Markup.Escape(verification.Failure!)}");
    }

    public static void PrintWorkloads(IAnsiConsole console, Advice advice, string beforeName, string afterName)
    {
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("workload");
        table.AddColumn(new TableColumn("weight").RightAligned());
        table.AddColumn(new TableColumn($"{beforeName} cycles/rt").RightAligned());
        table.AddColumn(new TableColumn($"{afterName} cycles/rt").RightAligned());
        table.AddColumn(new TableColumn("saving").RightAligned());
        foreach (var (workload, weight, before, after) in advice.PerWorkload)
        {
            table.AddRow(Markup.Escape(workload), weight.ToString("0.###", CultureInfo.InvariantCulture), before.ToString("N0", CultureInfo.InvariantCulture),
                after.ToString("N0", CultureInfo.InvariantCulture), Saving(before, after));
        }

        table.AddRow("[bold]weighted[/]", string.Empty, advice.WeightedBefore.ToString("N0", CultureInfo.InvariantCulture),
            advice.WeightedAfter.ToString("N0", CultureInfo.InvariantCulture), Saving(advice.WeightedBefore, advice.WeightedAfter));
        console.Write(table);
    }

    private static string Saving(double before, double after) =>
        before == 0 ? "-" : $"{(before - after).ToString("N0", CultureInfo.InvariantCulture)} " +
            $"({((before - after) / before * 100).ToString("0.0", CultureInfo.InvariantCulture)} %)";

    public static void PrintChanges(IAnsiConsole console, IReadOnlyList<FieldChange> changes, string afterName)
    {
        if (changes.Count == 0)
        {
            console.MarkupLine("no field changes");
            return;
        }

        var table = new Table().Border(TableBorder.Simple).Title($"{changes.Count} field changes, each valued alone in {afterName}");
        table.AddColumn("field");
        table.AddColumn("change");
        table.AddColumn(new TableColumn("read").RightAligned());
        table.AddColumn(new TableColumn("written").RightAligned());
        table.AddColumn(new TableColumn("saves cycles/rt").RightAligned());
        table.AddColumn("what it moves per round trip (− fewer, + more)");
        foreach (var change in changes)
        {
            table.AddRow(
                change.After.Name, Markup.Escape($"{change.Before.Describe()} → {change.After.Describe()}"),
                Advisor.Percent(change.ReadShare), Advisor.Percent(change.WriteShare),
                double.IsNaN(change.Cycles) ? "required" : change.Cycles.ToString("0.0", CultureInfo.InvariantCulture),
                Markup.Escape(Reason(change)));
        }

        console.Write(table);
    }

    /// <summary>"saves 1 VMREAD per entry" in the counters' words: negative = the change removes them.</summary>
    public static string Reason(FieldChange change) =>
        change.Counts.Count == 0
            ? "nothing on these workloads (a rule made it: see docs)"
            : string.Join(", ", change.Counts.OrderBy(kv => kv.Value).Select(kv =>
                $"{(kv.Value < 0 ? "−" : "+")}{Math.Abs(kv.Value).ToString("0.###", CultureInfo.InvariantCulture)} {kv.Key}"));

    private static void PrintRobustness(IAnsiConsole console, Advice advice)
    {
        var table = new Table().Border(TableBorder.Simple).Title("the saving when one uncertain cost term sits at an end of its range");
        table.AddColumn("cost term");
        table.AddColumn(new TableColumn("range").RightAligned());
        table.AddColumn(new TableColumn("saving at min").RightAligned());
        table.AddColumn(new TableColumn("saving at max").RightAligned());
        table.AddColumn("holds");
        var still = advice.Robustness.Where(r => Math.Abs(r.SavingAtMax - r.SavingAtMin) < 0.05).Select(r => r.Term).ToList();
        foreach (var r in advice.Robustness.Where(r => !still.Contains(r.Term)))
        {
            table.AddRow(r.Term, $"{r.Min.ToString("0.#", CultureInfo.InvariantCulture)}–{r.Max.ToString("0.#", CultureInfo.InvariantCulture)}",
                r.SavingAtMin.ToString("N1", CultureInfo.InvariantCulture), r.SavingAtMax.ToString("N1", CultureInfo.InvariantCulture),
                r.Holds ? "yes" : "[red]NO: wins only for some values[/]");
        }

        console.Write(table);
        if (still.Count > 0)
        {
            console.MarkupLine($"the saving does not depend on {string.Join(", ", still)} (fixed per round trip, the same on both sides)");
        }

        console.MarkupLine("with every uncertain term at its least favourable end at once, " +
            $"the saving is {advice.WorstCaseSaving.ToString("N1", CultureInfo.InvariantCulture)} cycles per round trip");
        if (!advice.Robust)
        {
            console.MarkupLine("[yellow]flagged[/]: the proposal costs more than the manifest for some values of the cost terms; " +
                "calibrate to your host (calibrate --help) before adopting it");
        }
    }

    private static void Progress(bool interactive, string what, Action<Action<string>> work)
    {
        if (!interactive)
        {
            work(_ => { });
            return;
        }

        AnsiConsole.Status().Start(what, ctx => work(status => ctx.Status(Markup.Escape(status))));
    }

    private static IAnsiConsole Output() => ConsoleOutput.Current(redirectedWidth: 200);
}
