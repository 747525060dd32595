using System;
using System.ComponentModel;
using Spectre.Console.Cli;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>run</c> (the default verb): the workloads on every strategy, cycles per nested round trip.</summary>
public sealed class RunSettings : ReportSettings
{
    [CommandOption("--workload <NAME|FILE>")]
    [Description("A shipped workload (cpuid-loop, io-mix, idle), a suite test, or a workload file; repeatable (default: the shipped ones).")]
    public string[] Workloads { get; set; } = [];

    [CommandOption("--manifest <NAME>")]
    [Description("Add a strategy for a manifest compiled into NestedSim (file or layout name, as --list shows); repeatable.")]
    public string[] Manifests { get; set; } = [];

    [CommandOption("--list")]
    [Description("List workloads, suites, strategies, manifests and costs, then exit.")]
    public bool List { get; set; }

    /// <summary>The options of the run (the record the simulation reads).</summary>
    public Options ToOptions() => new(Workloads, Manifests, Rounds, Seed, Format, CostsFile, Costs, List, Help: false, Suite: null, Quiet, Plot: PlotFile);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () =>
    {
        var shipped = Program.ShippedWorkloads();
        foreach (var workload in Workloads)
        {
            _ = Program.Resolve(workload, shipped);
        }
    });
}

public sealed class RunVerb : Verb<RunSettings>
{
    public const string Description =
        "Replays nested-VMX workloads through the engine for each field classification (strategy) and prints what one nested " +
        "round trip costs under each: the fixed work of the transitions plus the counted VMCS work.";

    public static void Add(IConfigurator config)
    {
        var verb = config.AddCommand<RunVerb>("run").WithDescription(Description + " The default verb.");
        Examples(example => verb.WithExample(["run", .. example]));
    }

    /// <summary>The examples (also the application's, since run is the default verb).</summary>
    public static void Examples(Action<string[]> example)
    {
        example(["--workload", "idle", "--format", "csv"]);
        example(["--manifest", "minimal", "--rounds", "5000"]);
        example(["--costs", "my.costs", "--cost", "vmread=20"]);
        example(["--workload", "cpuid-loop", "--plot", "ladder.svg"]);
        example(["--list"]);
    }

    protected override int Run(RunSettings settings) =>
        Program.Simulate(settings.ToOptions());
}
