using System;
using System.ComponentModel;
using Spectre.Console.Cli;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>record</c>: a workload on a manifest's engine with the trace recorder on.</summary>
public sealed class RecordSettings : SimulationSettings
{
    [CommandOption("--workload <NAME|FILE>")]
    [Description("The workload to record: a shipped workload, a suite test or a workload file.")]
    public string[] Workloads { get; set; } = [];

    [CommandOption("--manifest <NAME|FILE>")]
    [Description("The manifest whose engine runs it (default: kvm).")]
    public string? Manifest { get; set; }

    [CommandOption("--out <FILE.trace[.gz]>")]
    [Description("The trace to write (gzip-compressed when it ends in .gz).")]
    public string? Out { get; set; }

    public AdviseOptions ToAdviseOptions() =>
        new(Manifest, [(Workloads[0], 1.0)], [], null, null, new System.Collections.Generic.Dictionary<string, double>(), Out, null, Rounds, Seed,
            AdviseSettings.DefaultSafety, Quiet: true, Help: false, []);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () =>
    {
        if (Out is null)
        {
            throw new ArgumentException("record needs --out FILE.trace");
        }

        if (Workloads.Length != 1)
        {
            throw new ArgumentException("record takes exactly one --workload");
        }
    });
}

public sealed class RecordVerb : Verb<RecordSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<RecordVerb>("record")
            .WithDescription("Runs a workload on a manifest's engine with the trace recorder on (NestedTraceRecorder) and writes the trace (docs/TRACE.md).")
            .WithExample("record", "--workload", "idle", "--manifest", "kvm", "--out", "idle.trace")
            .WithExample("record", "--workload", "cpuid-loop", "--rounds", "1000", "--out", "cpuid.trace.gz");

    protected override int Run(RecordSettings settings) =>
        AdviseCommand.Record(settings.ToAdviseOptions());
}
