using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;

namespace VmcsGen.Samples.NestedSim;

/// <summary>Command-line options, parsed without surprises: every mistake is one line naming the option and the value.</summary>
public sealed record Options(
    IReadOnlyList<string> Workloads, IReadOnlyList<string> Manifests, int Rounds, int Seed, string Format,
    string? CostsFile, IReadOnlyDictionary<string, double> Costs, bool List, bool Help)
{
    public const int DefaultRounds = 20_000;

    public static Options Parse(string[] args)
    {
        var workloads = new List<string>();
        var manifests = new List<string>();
        var costs = new Dictionary<string, double>(StringComparer.Ordinal);
        int rounds = DefaultRounds, seed = 1;
        string format = "table";
        string? costsFile = null;
        bool list = false, help = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)
                ? args[++i]
                : throw new ArgumentException($"{arg} needs a value");
            int Number(string what, int min)
            {
                var text = Value();
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
                    ? n
                    : throw new ArgumentException($"{arg} takes {what} (at least {min}), got '{text}'");
            }

            switch (arg)
            {
                case "--workload": workloads.Add(Value()); break;
                case "--manifest": manifests.Add(Value()); break;
                case "--rounds": rounds = Number("a whole number of round trips", 1); break;
                case "--seed": seed = Number("a whole number", 0); break;
                case "--format":
                    format = Value();
                    if (format is not ("table" or "json" or "csv"))
                    {
                        throw new ArgumentException($"--format takes table, json or csv, got '{format}'");
                    }

                    break;
                case "--costs": costsFile = Value(); break;
                case "--cost":
                    var pair = Value();
                    var eq = pair.IndexOf('=');
                    if (eq <= 0 || !double.TryParse(pair.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var cycles))
                    {
                        throw new ArgumentException($"--cost takes NAME=CYCLES, got '{pair}'");
                    }

                    costs[pair[..eq]] = cycles;
                    break;
                case "--list": list = true; break;
                case "-h" or "--help": help = true; break;
                default: throw new ArgumentException($"unknown argument '{arg}' (try --help)");
            }
        }

        return new Options(workloads, manifests, rounds, seed, format, costsFile, costs, list, help);
    }

    public const string Usage = """
        usage: dotnet run --project samples/NestedSim -c Release -- [options]

        Replays nested-VMX workloads through the engine for several field classifications and prints what one
        nested round trip costs under each.

          --workload NAME|FILE   a shipped workload (cpuid-loop, io-mix, idle) or a workload file; repeatable (default: all shipped)
          --manifest NAME        add a strategy for a manifest compiled into NestedSim (fields/*.vmcs); repeatable
          --rounds N             round trips per workload (default 20000)
          --seed N               seed of the workload RNG (default 1); the same seed replays the same events
          --format table|json|csv
          --costs FILE           cost overrides, one 'name cycles' per line
          --cost NAME=CYCLES     one cost override; repeatable
          --list                 list workloads, strategies, manifests and costs, then exit
        """;
}

internal static class Program
{
    private static int Main(string[] args)
    {
        try
        {
            return Run(Options.Parse(args));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException)
        {
            Console.Error.WriteLine("NestedSim: " + e.Message);
            return 2;
        }
    }

    private static int Run(Options options)
    {
        if (options.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }

        var layouts = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly);
        var names = Simulator.FieldNames(layouts);
        var strategies = Strategies.Build(layouts, options.Manifests);
        var costs = new CostModel(options.Costs);
        if (options.CostsFile is not null)
        {
            costs.Load(options.CostsFile);
            foreach (var (name, cycles) in options.Costs)
            {
                costs.Set(name, cycles);
            }
        }

        var workloadFiles = ShippedWorkloads();
        if (options.List)
        {
            Console.WriteLine("workloads: " + string.Join(", ", workloadFiles.Keys));
            Console.WriteLine("strategies: " + string.Join(", ", strategies.Select(s => s.Name)));
            Console.WriteLine("manifests: " + string.Join(", ", layouts.Select(l => $"{l.ManifestFile} ({l.Namespace})")));
            Console.WriteLine("costs: " + string.Join(", ", CostModel.Defaults.Select(c => $"{c.Name} {costs[c.Name].ToString(CultureInfo.InvariantCulture)}")));
            return 0;
        }

        var selected = options.Workloads.Count == 0 ? workloadFiles.Values.ToList() : options.Workloads.Select(w => Resolve(w, workloadFiles)).ToList();
        var workloads = selected.Select(WorkloadParser.Load).ToList();
        foreach (var workload in workloads)
        {
            Simulator.Validate(workload, names);
        }

        var results = new List<WorkloadResult>();
        void RunAll(Action<string, int>? progress)
        {
            foreach (var workload in workloads)
            {
                var trace = Simulator.Trace(workload, names, options.Rounds, options.Seed);
                var strategyResults = strategies
                    .Select(s => Simulator.Run(s, workload, names, trace, costs, n => progress?.Invoke($"{workload.Name} / {s.Name}", n)))
                    .ToList();
                results.Add(new WorkloadResult(workload, strategyResults));
            }
        }

        var interactive = options.Format == "table" && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (interactive)
        {
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("simulating", maxValue: (double)options.Rounds * workloads.Count * strategies.Count);
                RunAll((label, n) =>
                {
                    task.Description = label;
                    task.Increment(n);
                });
            });
        }
        else
        {
            RunAll(null);
        }

        switch (options.Format)
        {
            case "json":
                Console.WriteLine(Report.ToJson(results, costs, options.Rounds, options.Seed));
                break;
            case "csv":
                Console.Write(Report.ToCsv(results));
                break;
            default:
                var console = AnsiConsole.Console;
                if (Console.IsOutputRedirected)
                {
                    console.Profile.Width = 160;
                }

                Report.Table(console, results, costs, options.Rounds, options.Seed);
                break;
        }

        return 0;
    }

    private static Dictionary<string, string> ShippedWorkloads()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Workloads");
        return Directory.EnumerateFiles(directory, "*.workload")
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => f);
    }

    private static string Resolve(string workload, Dictionary<string, string> shipped) =>
        shipped.TryGetValue(workload, out var file) ? file
        : File.Exists(workload) ? workload
        : throw new ArgumentException($"--workload {workload}: neither a shipped workload ({string.Join(", ", shipped.Keys)}) nor a file");
}
