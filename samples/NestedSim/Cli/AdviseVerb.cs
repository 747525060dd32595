using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Linq;
using Spectre.Console.Cli;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary>What advise and compare both take: the weighted workloads, traces and suite the classification is judged on.</summary>
public class AdvisorSettings : ReportSettings
{
    [CommandOption("--workload <NAME|FILE[:W]>")]
    [Description("A shipped workload, a suite test or a workload file, with weight W (default 1); repeatable (default: cpuid-loop, io-mix, idle).")]
    public string[] Workloads { get; set; } = [];

    [CommandOption("--trace <FILE[:W]>")]
    [Description("A recorded trace (docs/TRACE.md; .gz is read through gzip), weight W; repeatable.")]
    public string[] Traces { get; set; } = [];

    [CommandOption("--suite <NAME[:W]>")]
    [Description("A suite's tests (vmexit), weight W in all (each test W / its count).")]
    public string? Suite { get; set; }

    protected override IReadOnlyList<string> Formats => ["table", "json"];

    /// <summary>The options record the advisor's commands read.</summary>
    public AdviseOptions ToAdviseOptions(string? manifest = null, string? output = null, string? layout = null, int safety = AdviseSettings.DefaultSafety,
        IReadOnlyList<string>? positional = null) =>
        new(
            manifest,
            Workloads.Select(w => Weighted("--workload", w)).ToList(),
            Traces.Select(t => Weighted("--trace", t)).ToList(),
            Suite is null ? null : SuiteWeight(Suite),
            CostsFile, Costs, output, layout, Rounds, Seed, safety, Quiet || Format == "json", Help: false, positional ?? [], Format, PlotFile);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () => _ = ToAdviseOptions());

    private static (string, double) SuiteWeight(string value)
    {
        var (name, weight) = Weighted("--suite", value);
        return NestedSim.Suite.Names().Contains(name)
            ? (name, weight)
            : throw new ArgumentException($"--suite {name}: no such suite; shipped: {string.Join(", ", NestedSim.Suite.Names())}");
    }

    /// <summary>NAME or NAME:W, W a non-negative number.</summary>
    public static (string Name, double Weight) Weighted(string option, string value)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !double.TryParse(value.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var weight))
        {
            return (value, 1);
        }

        return weight is >= 0 and < 1e9 && double.IsFinite(weight)
            ? (value[..colon], weight)
            : throw new ArgumentException($"{option} {CostModel.Truncate(value)}: the weight must be a number from 0 up, " +
                $"got '{CostModel.Truncate(value[(colon + 1)..])}'");
    }
}

/// <summary><c>advise</c>: the classification that costs least for the workloads, proved before it is recommended.</summary>
public sealed class AdviseSettings : AdvisorSettings
{
    public const int DefaultSafety = 300;

    [CommandOption("--manifest <NAME|FILE>")]
    [Description("The manifest to improve: one compiled into NestedSim (kvm-2018, kvm, ...) or any .vmcs file (compiled here).")]
    public string? Manifest { get; set; }

    [CommandOption("--out <FILE>")]
    [Description("Write the proposal manifest here (only when every check passed).")]
    public string? Out { get; set; }

    [CommandOption("--layout <NAMESPACE>")]
    [Description("The proposal's layout namespace (default: the manifest's + \"Advised\").")]
    public string? Layout { get; set; }

    [CommandOption("--safety <N>")]
    [Description("Engine-vs-reference sequences run on the proposal, 1 to 1,000,000.")]
    [DefaultValue("300")]
    public string SafetyText { get; set; } = "300";

    /// <summary>The checked value of --safety.</summary>
    public int Safety => Number("--safety", SafetyText, "a whole number of sequences", 1, 1_000_000);

    public AdviseOptions ToAdviseOptions() => ToAdviseOptions(Manifest, Out, Layout, Safety);

    // A missing --manifest is reported by the advisor itself (AdviseOptions.Parse accepts a line without one, for callers
    // that only want the workloads).
    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () => _ = ToAdviseOptions());
}

public sealed class AdviseVerb : Verb<AdviseSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<AdviseVerb>("advise")
            .WithDescription(
                "Searches shadow-rw/shadow-ro/sync/rare-sync classes, control shadows and dirty groups for the lowest modelled " +
                "cycles per round trip on today's engine, proves the proposal (it builds with no diagnostic, its engine counts " +
                "what the model counted, its engine equals the reference engine) and prints it. Exit status 4 when the proposal " +
                "failed a check (nothing is written).")
            .WithExample("advise", "--manifest", "kvm-2018", "--out", "proposal.vmcs")
            .WithExample("advise", "--manifest", "kvm", "--trace", "my-l1.trace", "--out", "kvm-mine.vmcs")
            .WithExample("advise", "--manifest", "fields/mine.vmcs", "--workload", "idle:3", "--suite", "vmexit:1")
            .WithExample("advise", "--manifest", "kvm", "--format", "json")
            .WithExample("advise", "--manifest", "kvm-2018", "--plot", "advice.svg");

    protected override int Run(AdviseSettings settings) =>
        AdviseCommand.Advise(settings.ToAdviseOptions());
}
