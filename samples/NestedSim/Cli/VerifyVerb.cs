using System;
using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using VmcsGen.Samples.NestedSim.Verify;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>verify</c>: a manifest's engine against the reference, with the CPU's side from the SDM.</summary>
public sealed class VerifySettings : VerbSettings
{
    [CommandOption("--manifest <NAME|FILE>")]
    [Description("A manifest shipped in fields/ (kvm, kvm-2018, kvm-2017, minimal, the ladder manifests) or any .vmcs file.")]
    public string? Manifest { get; set; }

    [CommandOption("--sequences <N>")]
    [Description("Random sequences to run, 1 to 1,000,000.")]
    [DefaultValue("2000")]
    public string SequencesText { get; set; } = "2000";

    [CommandOption("--seed <S>")]
    [Description("Seed; the same seed replays the same sequences.")]
    [DefaultValue("1")]
    public string SeedText { get; set; } = "1";

    [CommandOption("--format <FORMAT>")]
    [Description("table (default) or json: manifest, seed, sequences, events, divergences, diagnostics, diagnosticLines, excluded, first.")]
    [DefaultValue("table")]
    public string Format { get; set; } = "table";

    public VerifyOptions ToOptions() => new(
        Manifest!,
        SimulationSettings.Number("--sequences", SequencesText, "a whole number of sequences", 1, VerifyOptions.MaxSequences),
        SimulationSettings.Number("--seed", SeedText, "a whole number", 0, int.MaxValue),
        Format);

    public override ValidationResult Validate()
    {
        var first = base.Validate();
        if (!first.Successful)
        {
            return first;
        }

        try
        {
            if (Manifest is null)
            {
                throw new ArgumentException("verify needs --manifest NAME|FILE");
            }

            if (Format is not ("table" or "json"))
            {
                throw new ArgumentException($"--format takes table or json, got '{CostModel.Truncate(Format)}'");
            }

            _ = ToOptions();
            return ValidationResult.Success();
        }
        catch (ArgumentException e)
        {
            return ValidationResult.Error(e.Message);
        }
    }
}

public sealed class VerifyVerb : Verb<VerifySettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<VerifyVerb>("verify")
            .WithDescription("Compiles a manifest (its diagnostics first) and runs its engine against the reference engine on random sequences whose CPU " +
                "side comes from the SDM (what a VM exit saves) and the engine's L0 policy, not from the manifest; minimises the first divergence to a short " +
                "event list naming the field and its class. Exit 1 when the manifest is unsound.")
            .WithExample("verify", "--manifest", "kvm")
            .WithExample("verify", "--manifest", "fields/mine.vmcs", "--sequences", "20000", "--seed", "7", "--format", "json");

    protected override int Run(VerifySettings settings) => VerifyCommand.Run(settings.ToOptions());
}
