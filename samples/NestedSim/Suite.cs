using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace VmcsGen.Samples.NestedSim;

/// <summary>One test of a suite: its workload, its result before and after the 2019 series, and the published figure if any.</summary>
public sealed record SuiteTest(Workload Workload, StrategyResult Before, StrategyResult After, PublishedPoint? Published)
{
    public string Name => Workload.Name;

    public double BeforeCycles => Before.CyclesPerIteration;

    public double AfterCycles => After.CyclesPerIteration;

    public double Delta => AfterCycles - BeforeCycles;

    /// <summary>(after − before) / before; 0 for a test that never exits to L1.</summary>
    public double Change => BeforeCycles == 0 ? 0 : Delta / BeforeCycles;
}

/// <summary>One test of a suite on several versions of KVM (oldest first), and the change between consecutive ones.</summary>
public sealed record SuiteHistory(Workload Workload, IReadOnlyList<StrategyResult> Versions)
{
    public string Name => Workload.Name;

    /// <summary>Per consecutive pair: cycles per iteration after − before, and that as a fraction of before (0 for a test that never exits).</summary>
    public IEnumerable<(StrategyResult From, StrategyResult To, double Delta, double Change)> Steps =>
        Versions.Zip(Versions.Skip(1), (a, b) => (a, b, b.CyclesPerIteration - a.CyclesPerIteration,
            a.CyclesPerIteration == 0 ? 0 : (b.CyclesPerIteration - a.CyclesPerIteration) / a.CyclesPerIteration));
}

/// <summary>
/// Workload suites shipped under Workloads/NAME/ (today: <c>vmexit</c>, one workload per kvm-unit-tests x86/vmexit.c test),
/// run on the strategies before (<c>kvm-2018</c>) and after (<c>kvm</c>) the 2019 series.
/// </summary>
public static class Suite
{
    public const string Vmexit = "vmexit";
    public const string Before = Strategies.Baseline;
    public const string After = "kvm";

    public static string PublishedFile => Path.Combine(AppContext.BaseDirectory, "Calibration", "kvm-2019-vmx-optimizations.tsv");

    public static IReadOnlyList<string> Names()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "Workloads");
        return Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList()
            : [];
    }

    /// <summary>
    /// The file name (without .workload) of a suite test: the test's name, with ':' (in the names vmexit.c prints for
    /// pci-testdev's tests, e.g. mmio-wildcard-eventfd:pci-mem) written '-', which every file system accepts.
    /// </summary>
    public static string FileNameOf(string test) => test.Replace(':', '-');

    /// <summary>The suite's workloads, in file-name order.</summary>
    public static IReadOnlyList<Workload> Load(string suite)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Workloads", suite);
        if (!Directory.Exists(directory))
        {
            throw new ArgumentException($"--suite {suite}: no such suite; shipped: {string.Join(", ", Names())}");
        }

        return Directory.EnumerateFiles(directory, "*.workload")
            .Order(StringComparer.Ordinal)
            .Select(WorkloadParser.Load)
            .ToList();
    }

    /// <summary>The published before/after figures of the vmexit suite's tests (the 2019 cover letter).</summary>
    public static IReadOnlyDictionary<string, PublishedPoint> Published(ICollection<string> tests) =>
        File.Exists(PublishedFile) ? Measurements.ReadTable(PublishedFile, tests) : new Dictionary<string, PublishedPoint>();

    public static SuiteTest Run(
        Workload workload, IReadOnlyList<Strategy> strategies, IReadOnlyDictionary<string, uint> names, int rounds, int seed, CostModel costs,
        IReadOnlyDictionary<string, PublishedPoint> published, Action<string, int>? progress = null) =>
        Run(workload, strategies, names, rounds, seed, costs, published, Before, After, progress);

    /// <summary>
    /// One test on any two strategies (<c>--from A --to B</c>). The published figures (the 2019 table) are attached only
    /// when the pair is the one they measure, kvm-2018 → kvm.
    /// </summary>
    public static SuiteTest Run(
        Workload workload, IReadOnlyList<Strategy> strategies, IReadOnlyDictionary<string, uint> names, int rounds, int seed, CostModel costs,
        IReadOnlyDictionary<string, PublishedPoint> published, string from, string to, Action<string, int>? progress = null)
    {
        var before = Find(strategies, from, "--from");
        var after = Find(strategies, to, "--to");
        var trace = workload.PerIteration == 0 ? [] : Simulator.Trace(workload, names, rounds, seed);
        return new SuiteTest(
            workload,
            Simulator.Run(before, workload, names, trace, costs, n => progress?.Invoke($"{workload.Name} / {before.Name}", n)),
            Simulator.Run(after, workload, names, trace, costs, n => progress?.Invoke($"{workload.Name} / {after.Name}", n)),
            from == Before && to == After ? published.GetValueOrDefault(workload.Name) : null);
    }

    /// <summary>One test on each strategy of <paramref name="versions"/> (default <see cref="Strategies.History"/>), on the same events.</summary>
    public static SuiteHistory RunHistory(
        Workload workload, IReadOnlyList<Strategy> strategies, IReadOnlyDictionary<string, uint> names, int rounds, int seed, CostModel costs,
        IReadOnlyList<string>? versions = null, Action<string, int>? progress = null)
    {
        var trace = workload.PerIteration == 0 ? [] : Simulator.Trace(workload, names, rounds, seed);
        var results = (versions ?? Strategies.History)
            .Select(v => Find(strategies, v, "--history"))
            .Select(s => Simulator.Run(s, workload, names, trace, costs, n => progress?.Invoke($"{workload.Name} / {s.Name}", n)))
            .ToList();
        return new SuiteHistory(workload, results);
    }

    /// <summary>A strategy by name, or an error naming the option and the strategies there are.</summary>
    public static Strategy Find(IReadOnlyList<Strategy> strategies, string name, string option) =>
        strategies.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"{option} {CostModel.Truncate(name)}: no such strategy; there are: " +
            $"{string.Join(", ", strategies.Select(s => s.Name))}");

    /// <summary>Units of each cost term per iteration of the test under a strategy's result (for calibration).</summary>
    public static Dictionary<string, double> UnitsPerIteration(StrategyResult result)
    {
        var units = CostModel.Units(result.Total, result.Events);
        foreach (var key in units.Keys.ToList())
        {
            units[key] = result.PerRound(units[key]) * result.PerIteration;
        }

        return units;
    }
}
