using System;
using System.ComponentModel;
using Spectre.Console.Cli;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>convert TRACE</c>: a recorded trace as a workload file.</summary>
public sealed class ConvertSettings : VerbSettings
{
    [CommandArgument(0, "<TRACE>")]
    [Description("The trace file (.trace, or .trace.gz read through gzip).")]
    public string Trace { get; set; } = string.Empty;

    [CommandOption("--out <FILE.workload>")]
    [Description("The workload file to write.")]
    public string? Out { get; set; }

    public AdviseOptions ToAdviseOptions() =>
        new(null, [], [], null, null, new System.Collections.Generic.Dictionary<string, double>(), Out, null, Options.DefaultRounds, 1,
            AdviseSettings.DefaultSafety, Quiet: true, Help: false, [Trace]);

    public override Spectre.Console.ValidationResult Validate()
    {
        if (base.Validate() is { Successful: false } error)
        {
            return error;
        }

        if (Out is null)
        {
            return Spectre.Console.ValidationResult.Error("convert needs --out FILE.workload");
        }

        try
        {
            SimulationSettings.MustExist("convert", Trace);
            return Spectre.Console.ValidationResult.Success();
        }
        catch (ArgumentException e)
        {
            return Spectre.Console.ValidationResult.Error(e.Message);
        }
    }
}

public sealed class ConvertVerb : Verb<ConvertSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<ConvertVerb>("convert")
            .WithDescription("Turns a recorded trace into a workload file: one exit block per distinct round-trip shape.")
            .WithExample("convert", "idle.trace", "--out", "idle-from-trace.workload");

    protected override int Run(ConvertSettings settings) =>
        AdviseCommand.Convert(settings.ToAdviseOptions());
}
