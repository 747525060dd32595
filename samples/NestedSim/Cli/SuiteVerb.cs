using System;
using System.ComponentModel;
using System.Linq;
using Spectre.Console.Cli;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>suite NAME</c> (alias <c>--suite NAME</c>): a suite's tests before (kvm-2018) and after (kvm) the 2019 series.</summary>
public sealed class SuiteSettings : ReportSettings
{
    [CommandArgument(0, "<SUITE>")]
    [Description("The suite: vmexit (kvm-unit-tests' x86/vmexit.c tests as L2).")]
    public string Name { get; set; } = string.Empty;

    [CommandOption("--from <STRATEGY>")]
    [Description("Compare from this strategy instead of kvm-2018 (any of --list's strategies, e.g. kvm-2017).")]
    public string? From { get; set; }

    [CommandOption("--to <STRATEGY>")]
    [Description("Compare to this strategy instead of kvm (e.g. +dirty-tracking or kvm-2018).")]
    public string? To { get; set; }

    [CommandOption("--history")]
    [Description("Each test on kvm-2017, kvm-2018 and kvm, and the change from each to the next.")]
    public bool History { get; set; }

    /// <summary>The options of the run (the record the simulation reads).</summary>
    public Options ToOptions() => new([], [], Rounds, Seed, Format, CostsFile, Costs, List: false, Help: false, Suite: Name, Quiet, From, To, History,
        PlotFile);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () =>
    {
        if (!NestedSim.Suite.Names().Contains(Name))
        {
            throw new ArgumentException($"suite {CostModel.Truncate(Name)}: no such suite; shipped: {string.Join(", ", NestedSim.Suite.Names())}");
        }

        if (History && Plot is not null)
        {
            throw new ArgumentException("--plot draws one before/after comparison; with --history it has none (give --from and --to instead)");
        }

        if (History && (From is not null || To is not null))
        {
            throw new ArgumentException("--history shows kvm-2017, kvm-2018 and kvm; it takes no --from or --to");
        }

        if (From is not null || To is not null)
        {
            var strategies = Strategies.Build(LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly), []);
            NestedSim.Suite.Find(strategies, From ?? NestedSim.Suite.Before, "--from");
            NestedSim.Suite.Find(strategies, To ?? NestedSim.Suite.After, "--to");
        }
    });
}

public sealed class SuiteVerb : Verb<SuiteSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<SuiteVerb>("suite")
            .WithDescription(
                "Runs a suite's tests on kvm-2018 (before KVM's 2019 series) and kvm (after) and prints per test the modelled cycles " +
                "per iteration, the change, and the published figures where the series' cover letter has them; --from/--to compare any " +
                "two strategies, --history shows kvm-2017, kvm-2018 and kvm. " +
                "'--suite NAME' before any verb is the same command.")
            .WithExample("suite", "vmexit")
            .WithExample("suite", "vmexit", "--format", "json")
            .WithExample("suite", "vmexit", "--plot", "suite.png", "--plot-size", "1600x900")
            .WithExample("suite", "vmexit", "--from", "kvm-2017", "--to", "+dirty-tracking")
            .WithExample("suite", "vmexit", "--history")
            .WithExample("suite", "vmexit", "--costs", "my.costs");

    protected override int Run(SuiteSettings settings) =>
        Program.Simulate(settings.ToOptions());
}
