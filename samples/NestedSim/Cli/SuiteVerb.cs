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

    /// <summary>The options of the run (the record the simulation reads).</summary>
    public Options ToOptions() => new([], [], Rounds, Seed, Format, CostsFile, Costs, List: false, Help: false, Suite: Name, Quiet, PlotFile);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () =>
    {
        if (!NestedSim.Suite.Names().Contains(Name))
        {
            throw new ArgumentException($"suite {CostModel.Truncate(Name)}: no such suite; shipped: {string.Join(", ", NestedSim.Suite.Names())}");
        }
    });
}

public sealed class SuiteVerb : Verb<SuiteSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<SuiteVerb>("suite")
            .WithDescription(
                "Runs a suite's tests on kvm-2018 (before KVM's 2019 series) and kvm (after) and prints per test the modelled cycles " +
                "per iteration, the change, and the published figures where the series' cover letter has them. " +
                "'--suite NAME' before any verb is the same command.")
            .WithExample("suite", "vmexit")
            .WithExample("suite", "vmexit", "--format", "json")
            .WithExample("suite", "vmexit", "--plot", "suite.png", "--plot-size", "1600x900")
            .WithExample("suite", "vmexit", "--costs", "my.costs");

    protected override int Run(SuiteSettings settings) =>
        Program.Simulate(settings.ToOptions());
}
