using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// <c>NestedSim calibrate</c>: fits the uncertain cost terms to cycles measured on the user's host (kvm-unit-tests vmexit
/// output, nested before/after, or single-level), prints the fit with per-point residuals, and writes a costs file.
/// </summary>
public static class CalibrateCommand
{
    public const string Usage = """
        usage: dotnet run --project samples/NestedSim -c Release -- calibrate [options]

        Fits the uncertain terms of the cost model (each within its stated range) to measured cycles by bounded least
        squares, prints the fitted model and each point's residual, and writes a costs file that --costs reads.

          --before FILE        kvm-unit-tests vmexit output of a nested run on the pre-2019 side (strategy kvm-2018)
          --after FILE         vmexit output of a nested run with today's KVM (strategy kvm)
          --table FILE         a 'test before after' table (e.g. Calibration/kvm-2019-vmx-optimizations.tsv)
          --single-level FILE  vmexit output of a run without nesting: pins hardware-exit (one exit and entry per exit)
          --only T1,T2,...     use only these tests (the others stay for checking the fit)
          --costs FILE         starting values (default: the priors of the cost terms)
          --out FILE           write the fitted costs here (nothing is written on any error)
          --rounds N --seed N  simulation length and seed (default 20000, 1)

        Every measured test must be in the vmexit suite (--list) and exit to L1 at least once per iteration.
        """;

    public static int Run(string[] args)
    {
        string? before = null, after = null, table = null, single = null, costsFile = null, output = null;
        HashSet<string>? only = null;
        int rounds = Options.DefaultRounds, seed = 1;
        var reader = new ArgReader(args);
        while (reader.Next() is { } arg)
        {
            switch (arg)
            {
                case "--before": before = reader.Value(); break;
                case "--after": after = reader.Value(); break;
                case "--table": table = reader.Value(); break;
                case "--single-level": single = reader.Value(); break;
                case "--only": only = reader.Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal); break;
                case "--costs": costsFile = reader.Value(); break;
                case "--out": output = reader.Value(); break;
                case "--rounds": rounds = reader.Number("a whole number of round trips", 1, Options.MaxRounds); break;
                case "--seed": seed = reader.Number("a whole number", 0, int.MaxValue); break;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return Program.Ran;
                default: throw new ArgumentException($"calibrate: unknown argument '{CostModel.Truncate(arg)}' (try calibrate --help)");
            }
        }

        if (before is null && after is null && table is null && single is null)
        {
            throw new ArgumentException("calibrate: give measurements with --before, --after, --table or --single-level (try calibrate --help)");
        }

        var start = new CostModel();
        if (costsFile is not null)
        {
            start.Load(costsFile);
        }

        var result = Calibrate(new CalibrationInput(before, after, table, single, only), start, rounds, seed);
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = 160;
        }

        Print(console, result);
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
                    throw new FormatException($"{value.Origin}: error: {test} ({side}) is {value.Cycles.ToString(CultureInfo.InvariantCulture)} here but {first.Cycles.ToString(CultureInfo.InvariantCulture)} at {first.Origin}");
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
                throw new FormatException($"{value.Origin}: error: {test} never exits to L1 in the model (per-iteration 0), so it says nothing about nested costs; leave it out (--only)");
            }

            if (side == "single-level")
            {
                if (workload.Exits.Any(e => e.Steps.Any(s => s.Kind == StepKind.Event)))
                {
                    throw new FormatException($"{value.Origin}: error: single-level {test} goes to the VMM's userspace; only in-kernel tests pin hardware-exit");
                }

                points.Add(new CalibrationPoint($"{test} (single-level)", new Dictionary<string, double> { ["hardware-exit"] = workload.PerIteration }, value.Cycles, value.Origin));
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
