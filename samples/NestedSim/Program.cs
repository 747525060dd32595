using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// The options of a simulation run (<c>run</c>, or <c>suite</c> when <see cref="Suite"/> is set), as the command line
/// (Cli/RunVerb.cs, Cli/SuiteVerb.cs) makes them; every mistake is one line naming the option and the value.
/// </summary>
public sealed record Options(
    IReadOnlyList<string> Workloads, IReadOnlyList<string> Manifests, int Rounds, int Seed, string Format,
    string? CostsFile, IReadOnlyDictionary<string, double> Costs, bool List, bool Help, string? Suite = null, bool Quiet = false,
    string? From = null, string? To = null, bool History = false, PlotFile? Plot = null)
{
    public const int DefaultRounds = 20_000;
    public const int MaxRounds = 1_000_000;

    /// <summary>
    /// The options a command line of the run or suite verb gives (without the program name; <c>--suite NAME</c> or
    /// <c>suite NAME</c> makes a suite run), parsed and checked as the tool does; <see cref="Help"/> when it asked for help.
    /// </summary>
    public static Options Parse(string[] args)
    {
        var line = SimApp.Normalize(args);
        var options = line switch
        {
            ["suite", .. var rest] => SimApp.Parse<SuiteSettings>("suite", rest)?.ToOptions(),
            ["run", .. var rest] => SimApp.Parse<RunSettings>("run", rest)?.ToOptions(),
            _ => SimApp.Parse<RunSettings>("run", line)?.ToOptions(),
        };
        return options ?? new Options([], [], DefaultRounds, 1, "table", null, new Dictionary<string, double>(), List: false, Help: true);
    }
}

public static class Program
{
    public const int Ran = 0;
    public const int BadInput = 2;
    public const int RanUnfaithful = 3;

    /// <summary>
    /// The band the suite's picture draws around each published change, in percentage points: the bound
    /// samples/NestedSim/README.md states and SuiteTests holds the tests that were not calibrated on to.
    /// </summary>
    public const double SuitePlotBand = 2.5;

    private static int Main(string[] args)
    {
        try
        {
            return SimApp.Execute(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("NestedSim: " + e.Message);
            return BadInput;
        }
    }

    /// <summary>The cost model of a run: the calibrated default, or a costs file, then single overrides.</summary>
    public static CostModel Costs(string? costsFile, IReadOnlyDictionary<string, double> overrides)
    {
        var costs = CostModel.Default();
        if (costsFile is not null)
        {
            if (!File.Exists(costsFile))
            {
                throw new ArgumentException($"--costs {costsFile}: no such file");
            }

            costs.Load(costsFile);
        }

        foreach (var (name, cycles) in overrides)
        {
            try
            {
                costs.Set(name, cycles);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"--cost {name}: {e.Message}");
            }
        }

        return costs;
    }

    /// <summary>The run and suite verbs: simulate, print, and say whether every strategy was faithful.</summary>
    internal static int Simulate(Options options)
    {
        var layouts = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly);
        var names = Simulator.FieldNames(layouts);
        var strategies = Strategies.Build(layouts, options.Manifests);
        var costs = Costs(options.CostsFile, options.Costs);

        var workloadFiles = ShippedWorkloads();
        if (options.List)
        {
            System.Console.WriteLine("workloads: " + string.Join(", ", workloadFiles.Keys));
            System.Console.WriteLine("suites: " + string.Join(", ", Suite.Names().Select(s => $"{s} ({Suite.Load(s).Count} tests)")));
            System.Console.WriteLine("strategies: " + string.Join(", ", strategies.Select(s => s.Name)));
            System.Console.WriteLine("manifests: " + string.Join(", ", layouts.Select(l => $"{l.ManifestFile} ({l.Namespace})")));
            System.Console.WriteLine(
                "costs: " + string.Join(", ", CostModel.Terms.Select(c => $"{c.Name} {costs[c.Name].ToString("0.#", CultureInfo.InvariantCulture)}")));
            return Ran;
        }

        var interactive = options.Format == "table" && !options.Quiet && !System.Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (options.Suite is { } suite)
        {
            return RunSuite(options, suite, strategies, names, costs, interactive);
        }

        var selected = options.Workloads.Count == 0 ? workloadFiles.Values.ToList() : options.Workloads.Select(w => Resolve(w, workloadFiles)).ToList();
        var workloads = selected.Select(WorkloadParser.Load).ToList();
        foreach (var workload in workloads)
        {
            Simulator.Validate(workload, names);
        }

        var results = new List<WorkloadResult>();
        WithProgress(interactive, (double)options.Rounds * workloads.Count * strategies.Count, progress =>
        {
            foreach (var workload in workloads)
            {
                var trace = Simulator.Trace(workload, names, options.Rounds, options.Seed);
                var strategyResults = strategies
                    .Select(s => Simulator.Run(s, workload, names, trace, costs, n => progress?.Invoke($"{workload.Name} / {s.Name}", n)))
                    .ToList();
                results.Add(new WorkloadResult(workload, strategyResults));
            }
        });

        switch (options.Format)
        {
            case "json":
                System.Console.WriteLine(Report.ToJson(results, costs, options.Rounds, options.Seed));
                break;
            case "csv":
                System.Console.Write(Report.ToCsv(results));
                break;
            default:
                Report.Table(Output(), results, costs, options.Rounds, options.Seed);
                break;
        }

        options.Plot?.Write(Plots.Ladder(results), options.Format == "table" ? Output() : null);

        var unfaithful = results.SelectMany(r => r.Strategies.Where(s => !s.Faithful).Select(s => $"{s.Strategy.Name} on {r.Workload.Name}")).ToList();
        if (unfaithful.Count > 0)
        {
            System.Console.Error.WriteLine($"NestedSim: warning: L1 accesses failed, results not comparable: {string.Join(", ", unfaithful)}");
            return RanUnfaithful;
        }

        return Ran;
    }

    private static int RunSuite(Options options, string suite, IReadOnlyList<Strategy> strategies, IReadOnlyDictionary<string, uint> names, CostModel costs,
        bool interactive)
    {
        var workloads = Suite.Load(suite);
        foreach (var workload in workloads)
        {
            Simulator.Validate(workload, names);
        }

        if (options.History)
        {
            foreach (var version in Strategies.History)
            {
                Suite.Find(strategies, version, "--history");
            }

            var histories = new List<SuiteHistory>();
            WithProgress(interactive, (double)options.Rounds * Strategies.History.Count * workloads.Count(w => w.PerIteration > 0), progress =>
            {
                foreach (var workload in workloads)
                {
                    histories.Add(Suite.RunHistory(workload, strategies, names, options.Rounds, options.Seed, costs, progress: progress));
                }
            });

            switch (options.Format)
            {
                case "json":
                    System.Console.WriteLine(Report.HistoryToJson(suite, histories, costs, options.Rounds, options.Seed));
                    break;
                case "csv":
                    System.Console.Write(Report.HistoryToCsv(histories));
                    break;
                default:
                    Report.HistoryTable(Output(), suite, histories, costs, options.Rounds, options.Seed);
                    break;
            }

            return histories.Any(h => h.Versions.Any(v => !v.Faithful)) ? RanUnfaithful : Ran;
        }

        var from = options.From ?? Suite.Before;
        var to = options.To ?? Suite.After;
        Suite.Find(strategies, from, "--from");
        Suite.Find(strategies, to, "--to");
        var published = suite == Suite.Vmexit ? Suite.Published(workloads.Select(w => w.Name).ToList()) : new Dictionary<string, PublishedPoint>();
        var tests = new List<SuiteTest>();
        var total = (double)options.Rounds * 2 * workloads.Count(w => w.PerIteration > 0);
        WithProgress(interactive, total, progress =>
        {
            foreach (var workload in workloads)
            {
                tests.Add(Suite.Run(workload, strategies, names, options.Rounds, options.Seed, costs, published, from, to, progress));
            }
        });

        switch (options.Format)
        {
            case "json":
                System.Console.WriteLine(Report.SuiteToJson(suite, tests, costs, options.Rounds, options.Seed));
                break;
            case "csv":
                System.Console.Write(Report.SuiteToCsv(tests));
                break;
            default:
                Report.SuiteTable(Output(), suite, tests, costs, options.Rounds, options.Seed);
                break;
        }

        options.Plot?.Write(Plots.Suite(suite, tests, SuitePlotBand), options.Format == "table" ? Output() : null);

        return tests.Any(t => !t.Before.Faithful || !t.After.Faithful) ? RanUnfaithful : Ran;
    }

    internal static void WithProgress(bool interactive, double total, Action<Action<string, int>?> work)
    {
        if (!interactive)
        {
            work(null);
            return;
        }

        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("simulating", maxValue: Math.Max(total, 1));
            work((label, n) =>
            {
                task.Description = label;
                task.Increment(n);
            });
        });
    }

    private static IAnsiConsole Output() => ConsoleOutput.Current(redirectedWidth: 200);

    internal static Dictionary<string, string> ShippedWorkloads()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Workloads");
        return Directory.EnumerateFiles(directory, "*.workload")
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => f);
    }

    /// <summary>A shipped workload, a suite test or a file, by name; else an error naming the option.</summary>
    internal static string Resolve(string workload, Dictionary<string, string> shipped)
    {
        if (shipped.TryGetValue(workload, out var file))
        {
            return file;
        }

        foreach (var suite in Suite.Names())
        {
            var candidate = Path.Combine(AppContext.BaseDirectory, "Workloads", suite, Suite.FileNameOf(workload) + ".workload");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return File.Exists(workload)
            ? workload
            : throw new ArgumentException($"--workload {workload}: neither a shipped workload ({string.Join(", ", shipped.Keys)}), a suite test (--list), " +
                "nor a file");
    }
}
