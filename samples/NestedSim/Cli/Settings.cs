using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using Spectre.Console.Cli;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary>
/// The root of every verb's settings: a value Spectre's parser made up is reported as the missing value it stands for.
/// </summary>
public class VerbSettings : CommandSettings
{
    public override ValidationResult Validate()
    {
        // With a default command, Spectre's strict parser retries a line whose last option lacks its value with its
        // internal default-command name inserted, which then becomes that value: report the option instead.
        foreach (var property in GetType().GetProperties())
        {
            var option = property.GetCustomAttributes(typeof(CommandOptionAttribute), true).OfType<CommandOptionAttribute>().FirstOrDefault();
            var argument = property.GetCustomAttributes(typeof(CommandArgumentAttribute), true).OfType<CommandArgumentAttribute>().FirstOrDefault();
            var madeUp = (option is not null || argument is not null) && property.GetValue(this) switch
            {
                string text => text == MadeUp,
                string[] list => list.Contains(MadeUp),
                _ => false,
            };
            if (madeUp)
            {
                return ValidationResult.Error(option is not null ? $"--{option.LongNames[0]} needs a value" : $"<{argument!.ValueName}> is missing");
            }
        }

        return ValidationResult.Success();
    }

    private const string MadeUp = "__default_command";
}

/// <summary>
/// What every simulating verb takes: <c>--rounds</c> and <c>--seed</c>. Each settings class checks its own values in
/// <see cref="Validate"/>, so a mistake is one line naming the option and the value (exit status 2) before anything runs.
/// </summary>
public class SimulationSettings : VerbSettings
{
    [CommandOption("--rounds <N>")]
    [Description("Round trips per workload, 1 to 1,000,000.")]
    [DefaultValue("20000")]
    public string RoundsText { get; set; } = Options.DefaultRounds.ToString(CultureInfo.InvariantCulture);

    [CommandOption("--seed <N>")]
    [Description("Seed of the workload RNG; the same seed replays the same events.")]
    [DefaultValue("1")]
    public string SeedText { get; set; } = "1";

    /// <summary>The checked value of --rounds.</summary>
    public int Rounds => Number("--rounds", RoundsText, "a whole number of round trips", 1, Options.MaxRounds);

    /// <summary>The checked value of --seed.</summary>
    public int Seed => Number("--seed", SeedText, "a whole number", 0, int.MaxValue);

    public override ValidationResult Validate() => Then(base.Validate(), () =>
    {
        _ = Rounds;
        _ = Seed;
    });

    /// <summary>Runs the checks; the first <see cref="ArgumentException"/> becomes the validation error.</summary>
    protected static ValidationResult Check(Action checks)
    {
        try
        {
            checks();
            return ValidationResult.Success();
        }
        catch (ArgumentException e)
        {
            return ValidationResult.Error(e.Message);
        }
    }

    /// <summary>Combines a base class's result with this class's checks (the first error wins).</summary>
    protected static ValidationResult Then(ValidationResult first, Action checks) => first.Successful ? Check(checks) : first;

    /// <summary>A whole number in a range, else the error the hand-written parser gave (it names the option and the value).</summary>
    public static int Number(string option, string text, string what, int min, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{option} takes {what} from {min.ToString("N0", CultureInfo.InvariantCulture)} to " +
                $"{max.ToString("N0", CultureInfo.InvariantCulture)}, got '{CostModel.Truncate(text)}'");

    /// <summary>An input file that must exist, named with its option.</summary>
    public static void MustExist(string option, string? path)
    {
        if (path is not null && !File.Exists(path))
        {
            throw new ArgumentException($"{option} {path}: no such file");
        }
    }

    /// <summary>
    /// An input file: the path as given, else the file of that relative path shipped beside the program
    /// (<c>Calibration/…</c>, <c>Costs/…</c>, <c>Workloads/…</c>, <c>fields/…</c>), so that the tool's own data can be named
    /// from anywhere; null stays null.
    /// </summary>
    public static string? Shipped(string? path) =>
        path is null || File.Exists(path) || Path.IsPathRooted(path) || !File.Exists(Path.Combine(AppContext.BaseDirectory, path))
            ? path
            : Path.Combine(AppContext.BaseDirectory, path);
}

/// <summary>Simulating verbs that take a cost model: <c>--costs FILE</c> and <c>--cost NAME=CYCLES</c>.</summary>
public class CostSettings : SimulationSettings
{
    [CommandOption("--costs <FILE>")]
    [Description("Cost values, one 'name cycles' per line (default: Costs/default.costs, calibrated).")]
    public string? CostsFile { get => _costsFile; set => _costsFile = Shipped(value); }

    private string? _costsFile;

    [CommandOption("--cost <NAME=CYCLES>")]
    [Description("One cost value (--list names them); repeatable; applied after --costs.")]
    public string[] CostOverrides { get; set; } = [];

    /// <summary>The checked --cost values.</summary>
    public IReadOnlyDictionary<string, double> Costs
    {
        get
        {
            var costs = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var pair in CostOverrides)
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (!(eq > 0 && double.TryParse(pair.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var cycles)))
                {
                    throw new ArgumentException($"--cost takes NAME=CYCLES, got '{CostModel.Truncate(pair)}'");
                }

                costs[pair[..eq]] = cycles;
            }

            return costs;
        }
    }

    /// <summary>The cost model the options describe: the calibrated default, or the --costs file, then each --cost.</summary>
    public CostModel Model() => Program.Costs(CostsFile, Costs);

    public override ValidationResult Validate() => Then(base.Validate(), () =>
    {
        MustExist("--costs", CostsFile);
        _ = Costs;
    });
}

/// <summary>Verbs that print a report: <c>--format</c> and <c>--quiet</c>.</summary>
public class ReportSettings : CostSettings
{
    [CommandOption("--format <FORMAT>")]
    [Description("table (default), json or csv; advise and compare: table or json. The JSON schemas are in the README.")]
    [DefaultValue("table")]
    public string Format { get; set; } = "table";

    [CommandOption("--quiet")]
    [Description("No progress display.")]
    public bool Quiet { get; set; }

    [CommandOption("--plot <FILE.svg|FILE.png>")]
    [Description("Also draw the result as a picture (SVG or PNG, by the extension).")]
    public string? Plot { get; set; }

    [CommandOption("--plot-size <WIDTHxHEIGHT>")]
    [Description("The picture's size in pixels.")]
    [DefaultValue("1200x800")]
    public string PlotSize { get; set; } = "1200x800";

    /// <summary>The checked picture request, or null without --plot.</summary>
    public PlotFile? PlotFile => PlotOptions.Check(Plot, PlotSize);

    /// <summary>The formats this verb writes, the first the default.</summary>
    protected virtual IReadOnlyList<string> Formats => ["table", "json", "csv"];

    /// <summary>A progress display only on an interactive terminal, for a table, and without --quiet.</summary>
    public bool Interactive => Format == "table" && !Quiet && !System.Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public override ValidationResult Validate() => Then(base.Validate(), () =>
    {
        _ = PlotFile;
        if (!Formats.Contains(Format))
        {
            var list = Formats.Count == 2 ? $"{Formats[0]} or {Formats[1]}" : $"{string.Join(", ", Formats.Take(Formats.Count - 1))} or {Formats[^1]}";
            throw new ArgumentException($"--format takes {list}, got '{CostModel.Truncate(Format)}'");
        }
    });
}

/// <summary>The checks of <c>--plot</c> and <c>--plot-size</c>, for every verb that draws.</summary>
public static class PlotOptions
{
    public const int MinSide = 200;
    public const int MaxSide = 10_000;

    /// <summary>The picture the options ask for (null without --plot); a wrong extension, folder or size names its option.</summary>
    public static PlotFile? Check(string? plot, string size)
    {
        var match = System.Text.RegularExpressions.Regex.Match(size, "^([0-9]{1,5})[xX×]([0-9]{1,5})$");
        var (width, height) = match.Success ? (int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture),
            int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture)) : (0, 0);
        if (width is < MinSide or > MaxSide || height is < MinSide or > MaxSide)
        {
            throw new ArgumentException($"--plot-size takes WIDTHxHEIGHT in pixels, each from {MinSide} to {MaxSide:N0}, got '{CostModel.Truncate(size)}'");
        }

        if (plot is null)
        {
            return null;
        }

        var extension = Path.GetExtension(plot).ToLowerInvariant();
        if (extension is not (".svg" or ".png"))
        {
            throw new ArgumentException($"--plot takes FILE.svg or FILE.png, got '{CostModel.Truncate(plot)}'");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(plot));
        if (directory is not null && !Directory.Exists(directory))
        {
            throw new ArgumentException($"--plot {plot}: no such folder {directory}");
        }

        return new PlotFile(plot, width, height);
    }
}
