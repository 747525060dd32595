using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Linq;
using Spectre.Console.Cli;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>calibrate</c>: fits the uncertain cost terms to cycles measured on the user's host.</summary>
public sealed class CalibrateSettings : SimulationSettings
{
    [CommandOption("--before <FILE>")]
    [Description("kvm-unit-tests vmexit output of a nested run on the pre-2019 side (strategy kvm-2018).")]
    public string? Before { get; set; }

    [CommandOption("--after <FILE>")]
    [Description("vmexit output of a nested run with today's KVM (strategy kvm).")]
    public string? After { get; set; }

    [CommandOption("--table <FILE>")]
    [Description("A 'test before after' table (e.g. Calibration/kvm-2019-vmx-optimizations.tsv).")]
    public string? Table { get => _table; set => _table = Shipped(value); }

    private string? _table;

    [CommandOption("--single-level <FILE>")]
    [Description("vmexit output of a run without nesting: pins hardware-exit (one exit and entry per exit).")]
    public string? SingleLevel { get; set; }

    [CommandOption("--only <T1,T2,...>")]
    [Description("Use only these tests (the others stay for checking the fit).")]
    public string? Only { get; set; }

    [CommandOption("--costs <FILE>")]
    [Description("Starting values (default: the priors of the cost terms).")]
    public string? CostsFile { get => _costsFile; set => _costsFile = Shipped(value); }

    private string? _costsFile;

    [CommandOption("--out <FILE>")]
    [Description("Write the fitted costs here, for --costs (nothing is written on any error).")]
    public string? Out { get; set; }

    [CommandOption("--plot <FILE.svg|FILE.png>")]
    [Description("Also draw each point's residual as a picture (SVG or PNG, by the extension).")]
    public string? Plot { get; set; }

    [CommandOption("--plot-size <WIDTHxHEIGHT>")]
    [Description("The picture's size in pixels.")]
    [DefaultValue("1200x800")]
    public string PlotSize { get; set; } = "1200x800";

    /// <summary>The checked picture request, or null without --plot.</summary>
    public PlotFile? PlotFile => PlotOptions.Check(Plot, PlotSize);

    /// <summary>The tests of --only, or null for all.</summary>
    public IReadOnlySet<string>? OnlyTests =>
        Only?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);

    public CalibrateCommand.CalibrationInput ToInput() => new(Before, After, Table, SingleLevel, OnlyTests);

    public override Spectre.Console.ValidationResult Validate() => Then(base.Validate(), () =>
    {
        if (Before is null && After is null && Table is null && SingleLevel is null)
        {
            throw new ArgumentException("calibrate: give measurements with --before, --after, --table or --single-level (try calibrate --help)");
        }

        MustExist("--before", Before);
        MustExist("--after", After);
        MustExist("--table", Table);
        MustExist("--single-level", SingleLevel);
        MustExist("--costs", CostsFile);
        _ = PlotFile;
    });
}

public sealed class CalibrateVerb : Verb<CalibrateSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<CalibrateVerb>("calibrate")
            .WithDescription(
                "Fits the uncertain terms of the cost model (each within its stated range) to measured cycles by bounded least " +
                "squares, prints the fitted model and each point's residual, and writes a costs file that --costs reads. Every " +
                "measured test must be in the vmexit suite and exit to L1 at least once per iteration.")
            .WithExample("calibrate", "--before", "vmexit-old-L0.txt", "--after", "vmexit-new-L0.txt", "--out", "my.costs")
            .WithExample("calibrate", "--table", "Calibration/kvm-2019-vmx-optimizations.tsv", "--only", "cpuid,vmcall,inl_from_qemu", "--out",
                "Costs/default.costs")
            .WithExample("calibrate", "--table", "Calibration/kvm-2019-vmx-optimizations.tsv", "--plot", "residuals.svg");

    protected override int Run(CalibrateSettings settings) =>
        CalibrateCommand.Run(settings);
}
