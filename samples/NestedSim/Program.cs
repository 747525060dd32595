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
    string? CostsFile, IReadOnlyDictionary<string, double> Costs, bool List, bool Help, string? Suite = null, bool Quiet = false)
{
    public const int DefaultRounds = 20_000;
    public const int MaxRounds = 1_000_000;

    public static Options Parse(string[] args)
    {
        var workloads = new List<string>();
        var manifests = new List<string>();
        var costs = new Dictionary<string, double>(StringComparer.Ordinal);
        int rounds = DefaultRounds, seed = 1;
        string format = "table";
        string? costsFile = null, suite = null;
        bool list = false, help = false, quiet = false;
        var reader = new ArgReader(args);
        while (reader.Next() is { } arg)
        {
            switch (arg)
            {
                case "--workload": workloads.Add(reader.Value()); break;
                case "--manifest": manifests.Add(reader.Value()); break;
                case "--suite": suite = reader.Value(); break;
                case "--rounds": rounds = reader.Number("a whole number of round trips", 1, MaxRounds); break;
                case "--seed": seed = reader.Number("a whole number", 0, int.MaxValue); break;
                case "--format": format = reader.Format(); break;
                case "--costs": costsFile = reader.Value(); break;
                case "--cost":
                    var (name, cycles) = reader.Cost();
                    costs[name] = cycles;
                    break;
                case "--quiet": quiet = true; break;
                case "--list": list = true; break;
                case "-h" or "--help": help = true; break;
                default: throw new ArgumentException($"unknown argument '{CostModel.Truncate(arg)}' (try --help)");
            }
        }

        if (suite is not null && (workloads.Count > 0 || manifests.Count > 0))
        {
            throw new ArgumentException("--suite runs the suite's own workloads on kvm-2018 and kvm; it takes no --workload or --manifest");
        }

        return new Options(workloads, manifests, rounds, seed, format, costsFile, costs, list, help, suite, quiet);
    }

    public const string Usage = """
        usage: dotnet run --project samples/NestedSim -c Release -- [options]
               dotnet run --project samples/NestedSim -c Release -- calibrate [calibrate options]

        Replays nested-VMX workloads through the engine for several field classifications and prints what one
        nested round trip costs under each: the fixed work of the transitions plus the counted VMCS work.

          --workload NAME|FILE   a shipped workload (cpuid-loop, io-mix, idle) or a workload file; repeatable (default: all shipped)
          --manifest NAME        add a strategy for a manifest compiled into NestedSim (file or layout name, as --list shows); repeatable
          --suite vmexit         kvm-unit-tests' vmexit tests as L2, before (kvm-2018) and after (kvm) the 2019 series
          --rounds N             round trips per workload, 1 to 1,000,000 (default 20000)
          --seed N               seed of the workload RNG (default 1); the same seed replays the same events
          --format table|json|csv
          --costs FILE           cost values, one 'name cycles' per line (default: Costs/default.costs, calibrated)
          --cost NAME=CYCLES     one cost value; repeatable; applied last
          --quiet                no progress display
          --list                 list workloads, suites, strategies, manifests and costs, then exit

        Exit status: 0 ran; 2 bad input; 3 ran, but some strategy failed L1 accesses of a workload (marked unfaithful).
        calibrate --help describes the calibration command; advise --help the classification advisor (advise, compare,
        record, convert).
        """;
}

/// <summary>Walks an argument list; every mistake names the option.</summary>
internal sealed class ArgReader(string[] args)
{
    private int _i = -1;

    public string? Current => _i >= 0 && _i < args.Length ? args[_i] : null;

    public string? Next() => ++_i < args.Length ? args[_i] : null;

    public string Value() => _i + 1 < args.Length && !args[_i + 1].StartsWith("--", StringComparison.Ordinal)
        ? args[++_i]
        : throw new ArgumentException($"{Current} needs a value");

    public int Number(string what, int min, int max)
    {
        var option = Current;
        var text = Value();
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{option} takes {what} from {min.ToString("N0", CultureInfo.InvariantCulture)} to {max.ToString("N0", CultureInfo.InvariantCulture)}, got '{CostModel.Truncate(text)}'");
    }

    public string Format()
    {
        var format = Value();
        return format is "table" or "json" or "csv" ? format : throw new ArgumentException($"--format takes table, json or csv, got '{CostModel.Truncate(format)}'");
    }

    public (string Name, double Cycles) Cost()
    {
        var pair = Value();
        var eq = pair.IndexOf('=');
        return eq > 0 && double.TryParse(pair.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var cycles)
            ? (pair[..eq], cycles)
            : throw new ArgumentException($"--cost takes NAME=CYCLES, got '{CostModel.Truncate(pair)}'");
    }
}

public static class Program
{
    public const int Ran = 0;
    public const int BadInput = 2;
    public const int RanUnfaithful = 3;

    private static int Main(string[] args)
    {
        try
        {
            return args switch
            {
                ["calibrate", .. var rest] => CalibrateCommand.Run(rest),
                [var command and ("advise" or "compare" or "record" or "convert"), .. var rest] => Advisor.AdviseCommand.Run(command, rest),
                _ => Run(Options.Parse(args)),
            };
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

    private static int Run(Options options)
    {
        if (options.Help)
        {
            System.Console.WriteLine(Options.Usage);
            return Ran;
        }

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
            System.Console.WriteLine("costs: " + string.Join(", ", CostModel.Terms.Select(c => $"{c.Name} {costs[c.Name].ToString("0.#", CultureInfo.InvariantCulture)}")));
            return Ran;
        }

        var interactive = options.Format == "table" && !options.Quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
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

        var unfaithful = results.SelectMany(r => r.Strategies.Where(s => !s.Faithful).Select(s => $"{s.Strategy.Name} on {r.Workload.Name}")).ToList();
        if (unfaithful.Count > 0)
        {
            System.Console.Error.WriteLine($"NestedSim: warning: L1 accesses failed, results not comparable: {string.Join(", ", unfaithful)}");
            return RanUnfaithful;
        }

        return Ran;
    }

    private static int RunSuite(Options options, string suite, IReadOnlyList<Strategy> strategies, IReadOnlyDictionary<string, uint> names, CostModel costs, bool interactive)
    {
        var workloads = Suite.Load(suite);
        foreach (var workload in workloads)
        {
            Simulator.Validate(workload, names);
        }

        var published = suite == Suite.Vmexit ? Suite.Published(workloads.Select(w => w.Name).ToList()) : new Dictionary<string, PublishedPoint>();
        var tests = new List<SuiteTest>();
        var total = (double)options.Rounds * 2 * workloads.Count(w => w.PerIteration > 0);
        WithProgress(interactive, total, progress =>
        {
            foreach (var workload in workloads)
            {
                tests.Add(Suite.Run(workload, strategies, names, options.Rounds, options.Seed, costs, published, progress));
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

    private static IAnsiConsole Output()
    {
        var console = AnsiConsole.Console;
        if (System.Console.IsOutputRedirected)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

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
            var candidate = Path.Combine(AppContext.BaseDirectory, "Workloads", suite, workload + ".workload");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return File.Exists(workload)
            ? workload
            : throw new ArgumentException($"--workload {workload}: neither a shipped workload ({string.Join(", ", shipped.Keys)}), a suite test (--list), nor a file");
    }
}
