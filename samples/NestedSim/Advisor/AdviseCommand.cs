using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>
/// <c>advise</c>, <c>compare</c>, <c>record</c> and <c>convert</c>: the classification advisor's commands. Every input
/// mistake is one line naming the file and line (or the option) and exit status 2, with nothing written.
/// </summary>
/// <remarks>
/// One job per file: this file runs <c>advise</c>; <c>AdviseCommand.Inputs.cs</c> loads manifests and workloads,
/// <c>.Proof.cs</c> proves a proposal, <c>.Rendering.cs</c> prints tables, <c>.Json.cs</c> writes JSON, and
/// <c>.Compare.cs</c>, <c>.Record.cs</c>, <c>.Convert.cs</c> run the other three commands.
/// </remarks>
public static partial class AdviseCommand
{
    public const int Refused = 4;

    /// <summary>Runs advise, compare, record or convert with these arguments as the tool does (Cli/*Verb.cs have the options).</summary>
    public static int Run(string command, string[] args) => SimApp.Execute([command, .. args]);

    internal static int Advise(AdviseOptions o)
    {
        var input = LoadManifest(o.Manifest ?? throw new ArgumentException("advise needs --manifest NAME|FILE (e.g. --manifest kvm-2018)"));
        if (Unsound(input) is { } unsoundInput)
        {
            Console.Error.WriteLine($"NestedSim: advise: {unsoundInput}; no proposal is made from an unsound manifest");
            return Refused;
        }

        var names = Names(input.Layout);
        var workloads = LoadWorkloads(o, names);
        var costs = Program.Costs(o.CostsFile, o.Costs);
        var profiles = Profiles(input.Classification, workloads, names, o.Rounds, o.Seed);
        WarnAboutMissingFields(input, workloads);
        var advisor = new Advisor(profiles);
        var interactive = !o.Quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

        var clock = Stopwatch.StartNew();
        Advice advice = null!;
        Progress(interactive, "searching", update => advice = advisor.Search(input.Classification, costs, (step, cycles) =>
            update($"searching: step {step}, {cycles.ToString("N0", CultureInfo.InvariantCulture)} cycles per round trip")));
        var searchTime = clock.Elapsed;

        var ns = o.Layout ?? input.Text.Namespace + "Advised";
        var proposalText = input.Text.Rewrite(input.Classification, advice.After, ns, Preamble(input, advice, workloads, o));
        var outPath = o.Out ?? Path.GetFileNameWithoutExtension(input.Path) + ".advised.vmcs";

        Verification verification = null!;
        Progress(interactive, "proving the proposal", update => verification = Verify(outPath, proposalText, advice, profiles, names, o, costs, update));
        var console = Output();
        var written = verification.Passed ? o.Out : null;
        if (o.Format == "json")
        {
            Console.WriteLine(ToJson(input, advice, verification, ns, o, costs, written, searchTime));
        }
        else
        {
            Print(console, input, advice, searchTime, verification, ns);
        }

        if (!verification.Passed)
        {
            Console.Error.WriteLine("NestedSim: advise: the proposal is not recommended: " + verification.Failure);
            return Refused;
        }

        if (written is { } output)
        {
            var temporary = output + ".tmp";
            File.WriteAllText(temporary, proposalText);
            File.Move(temporary, output, overwrite: true);
            if (o.Format != "json")
            {
                console.MarkupLine($"wrote [bold]{Markup.Escape(output)}[/] (layout {Markup.Escape(ns)}); put it in fields/ and rebuild to use it");
            }
        }
        else if (o.Format != "json")
        {
            console.MarkupLine("no --out given: the proposal was not written");
        }

        o.Plot?.Write(Plots.Advice(advice, Path.GetFileName(input.Path), "proposal"), o.Format == "json" ? null : console);
        return Program.Ran;
    }

    private static IEnumerable<string> Preamble(ManifestInput input, Advice advice, List<(Workload Workload, double Weight)> workloads, AdviseOptions o)
    {
        yield return $"Proposed by NestedSim advise from {Path.GetFileName(input.Path)}: {advice.Changes.Count} fields reclassified.";
        yield return "Workloads: " +
            $"{string.Join(", ", workloads.Select(w => $"{w.Workload.Name} (weight {w.Weight.ToString("0.###", CultureInfo.InvariantCulture)})"))};";
        yield return $"{o.Rounds} round trips each, seed {o.Seed}, today's engine; costs {(o.CostsFile ?? "default")}.";
        yield return $"Modelled cycles per round trip (weighted): {advice.WeightedBefore.ToString("N0", CultureInfo.InvariantCulture)} -> " +
            $"{advice.WeightedAfter.ToString("N0", CultureInfo.InvariantCulture)}.";
        yield return string.Empty;
    }
}
