using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// <c>NestedSim calibrate</c>: fits the uncertain cost terms to cycles measured on the user's host (kvm-unit-tests vmexit
/// output, nested before/after, or single-level), prints the fit with per-point residuals, and writes a costs file.
/// </summary>
public static class CalibrateCommand
{
    /// <summary>Runs <c>calibrate</c> with these arguments as the tool does (Cli/CalibrateVerb.cs has the options).</summary>
    public static int Run(string[] args) => SimApp.Execute(["calibrate", .. args]);

    /// <summary>The calibrate verb: fit, print, and write the costs file when asked.</summary>
    internal static int Run(CalibrateSettings settings)
    {
        var (before, after, table, single, costsFile, output, only) =
            (settings.Before, settings.After, settings.Table, settings.SingleLevel, settings.CostsFile, settings.Out, settings.OnlyTests);
        var (rounds, seed) = (settings.Rounds, settings.Seed);
        var start = new CostModel();
        if (costsFile is not null)
        {
            start.Load(costsFile);
        }

        var result = Calibrate(settings.ToInput(), start, rounds, seed);
        var console = ConsoleOutput.Current(redirectedWidth: 160);

        Print(console, result);
        settings.PlotFile?.Write(Plots.Calibration(result), console);
        if (output is not null)
        {
            var text = result.Model.ToFileText(
                $"NestedSim cost model, fitted by 'calibrate' ({result.Residuals.Count} points, RMS error {result.RmsRelativeError * 100:0.0} %).\n" +
                $"Inputs: {string.Join(", ", new[] { before, after, table, single }.OfType<string>().Select(Path.GetFileName))}" +
                (only is null ? string.Empty : $"; tests: {string.Join(",", only.Order(StringComparer.Ordinal))}") +
                $"; rounds {rounds}, seed {seed}.");
            var temporary = output + ".tmp";
            File.WriteAllText(temporary, text);
            File.Move(temporary, output, overwrite: true);
            Console.WriteLine($"wrote {output}");
        }

        return Program.Ran;
    }

    /// <summary>What to calibrate against.</summary>
    public sealed record CalibrationInput(string? Before, string? After, string? Table, string? SingleLevel, IReadOnlySet<string>? Only);

    /// <summary>Reads the measurements, simulates each measured test on its strategy, and fits.</summary>
    public static CalibrationResult Calibrate(CalibrationInput input, CostModel start, int rounds, int seed)
    {
        var layouts = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly);
        var names = Simulator.FieldNames(layouts);
        var strategies = Strategies.Build(layouts, []);
        var workloads = Suite.Load(Suite.Vmexit).ToDictionary(w => w.Name, StringComparer.Ordinal);
        var known = workloads.Keys.ToList();
        foreach (var test in input.Only ?? new HashSet<string>())
        {
            if (!workloads.ContainsKey(test))
            {
                throw new ArgumentException($"calibrate --only: unknown test '{CostModel.Truncate(test)}'");
            }
        }

        var measured = new List<(string Test, string Side, Measured Value)>();
        void AddOutput(string? path, string side)
        {
            if (path is not null)
            {
                measured.AddRange(Measurements.ReadVmexitOutput(path, known).Select(kv => (kv.Key, side, kv.Value)));
            }
        }

        AddOutput(input.Before, Suite.Before);
        AddOutput(input.After, Suite.After);
        AddOutput(input.SingleLevel, "single-level");
        if (input.Table is not null)
        {
            foreach (var p in Measurements.ReadTable(input.Table, known).Values)
            {
                measured.Add((p.Test, Suite.Before, new Measured(p.Before, p.Origin)));
                measured.Add((p.Test, Suite.After, new Measured(p.After, p.Origin)));
            }
        }

        var seen = new Dictionary<(string, string), Measured>();
        var points = new List<CalibrationPoint>();
        var runs = new Dictionary<(string, string), StrategyResult>();
        foreach (var (test, side, value) in measured)
        {
            if (seen.TryGetValue((test, side), out var first))
            {
                if (first.Cycles != value.Cycles)
                {
                    throw new FormatException($"{value.Origin}: error: {test} ({side}) is {value.Cycles.ToString(CultureInfo.InvariantCulture)} here but " +
                        $"{first.Cycles.ToString(CultureInfo.InvariantCulture)} at {first.Origin}");
                }

                continue;
            }

            seen[(test, side)] = value;
            if (input.Only is not null && !input.Only.Contains(test))
            {
                continue;
            }

            var workload = workloads[test];
            if (workload.PerIteration == 0)
            {
                throw new FormatException($"{value.Origin}: error: {test} never exits to L1 in the model (per-iteration 0), so it says nothing about nested " +
                    "costs; leave it out (--only)");
            }

            if (side == "single-level")
            {
                if (workload.Exits.Any(e => e.Steps.Any(s => s.Kind == StepKind.Event)))
                {
                    throw new FormatException($"{value.Origin}: error: single-level {test} goes to the VMM's userspace; " +
                        "only in-kernel tests pin hardware-exit");
                }

                points.Add(new CalibrationPoint($"{test} (single-level)", new Dictionary<string, double> { ["hardware-exit"] = workload.PerIteration },
                    value.Cycles, value.Origin));
                continue;
            }

            var key = (test, side);
            if (!runs.TryGetValue(key, out var run))
            {
                var strategy = strategies.Single(s => s.Name == side);
                Simulator.Validate(workload, names);
                run = Simulator.Run(strategy, workload, names, Simulator.Trace(workload, names, rounds, seed), start);
                runs[key] = run;
            }

            points.Add(new CalibrationPoint($"{test} ({side})", Suite.UnitsPerIteration(run), value.Cycles, value.Origin));
        }

        return Calibrator.Fit(points, start);
    }

    public static void Print(IAnsiConsole console, CalibrationResult result)
    {
        console.MarkupLine($"[bold]calibrate[/]: {result.Residuals.Count} points, RMS relative error {result.RmsRelativeError * 100:0.00} %");
        var terms = new Table().Border(TableBorder.Rounded);
        foreach (var column in new[] { "term", "prior", "fitted", "range", "" })
        {
            terms.AddColumn(new TableColumn(column).RightAligned());
        }

        terms.Columns[0].LeftAligned();
        foreach (var t in result.Terms)
        {
            terms.AddRow(
                t.Name, N(t.Prior), N(t.Value), $"{N(t.Min)}–{N(t.Max)}",
                t.AtBound ? "[yellow]at a bound: the data want it outside its stated range[/]" : "");
        }

        console.Write(terms);
        var points = new Table().Border(TableBorder.Rounded);
        foreach (var column in new[] { "point", "measured", "modelled", "residual", "from" })
        {
            points.AddColumn(new TableColumn(column).RightAligned());
        }

        points.Columns[0].LeftAligned();
        points.Columns[4].LeftAligned();
        foreach (var (point, modelled) in result.Residuals)
        {
            points.AddRow(
                Markup.Escape(point.Label), N(point.Measured), N(modelled),
                ((modelled - point.Measured) / point.Measured * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " %",
                Markup.Escape(point.Origin));
        }

        console.Write(points);
    }

    private static string N(double value) => value.ToString(value < 100 ? "0.#" : "N0", CultureInfo.InvariantCulture);
}
