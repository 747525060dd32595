using System;
using System.Collections.Generic;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>The advisor commands' options; every mistake names the option.</summary>
public sealed record AdviseOptions(
    string? Manifest, IReadOnlyList<(string Name, double Weight)> Workloads, IReadOnlyList<(string Path, double Weight)> Traces,
    (string Name, double Weight)? Suite, string? CostsFile, IReadOnlyDictionary<string, double> Costs, string? Out, string? Layout,
    int Rounds, int Seed, int Safety, bool Quiet, bool Help, IReadOnlyList<string> Positional, string Format = "table", PlotFile? Plot = null)
{
    /// <summary>
    /// The options a command line of <paramref name="command"/> (advise, compare, record or convert) gives, parsed and
    /// checked as the tool does; <see cref="Help"/> when it asked for help.
    /// </summary>
    public static AdviseOptions Parse(string command, string[] args) =>
        (command switch
        {
            "advise" => SimApp.Parse<AdviseSettings>(command, args)?.ToAdviseOptions(),
            "compare" => SimApp.Parse<CompareSettings>(command, args)?.ToAdviseOptions(),
            "record" => SimApp.Parse<RecordSettings>(command, args)?.ToAdviseOptions(),
            "convert" => SimApp.Parse<ConvertSettings>(command, args)?.ToAdviseOptions(),
            _ => throw new ArgumentException($"unknown advisor command '{CostModel.Truncate(command)}': advise, compare, record or convert"),
        }) ?? new AdviseOptions(null, [], [], null, null, new Dictionary<string, double>(), null, null, Options.DefaultRounds, 1, AdviseSettings.DefaultSafety,
            Quiet: false, Help: true, []);
}
