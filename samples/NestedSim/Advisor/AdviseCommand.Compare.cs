using System;
using System.IO;
using System.Linq;
using Spectre.Console;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary><c>compare A B</c>: the cost of two classifications of one layout, field by field.</summary>
public static partial class AdviseCommand
{
    internal static int Compare(AdviseOptions o)
    {
        if (o.Positional.Count != 2)
        {
            throw new ArgumentException("compare takes two manifests: compare A B (names compiled into NestedSim, or .vmcs files)");
        }

        var a = LoadManifest(o.Positional[0]);
        var b = LoadManifest(o.Positional[1]);
        foreach (var input in new[] { a, b })
        {
            // A cheaper manifest that lets L1 read stale state is no saving: refuse to show it as one.
            if (Unsound(input) is { } unsound)
            {
                Console.Error.WriteLine($"NestedSim: compare: {unsound}; no costs are compared for an unsound manifest");
                return Refused;
            }
        }
        var onlyA = a.Classification.Fields.Select(f => f.Name).Except(b.Classification.Fields.Select(f => f.Name)).ToList();
        var onlyB = b.Classification.Fields.Select(f => f.Name).Except(a.Classification.Fields.Select(f => f.Name)).ToList();
        if (onlyA.Count + onlyB.Count > 0 || a.Classification.Fields.Zip(b.Classification.Fields).Any(p => p.First.Encoding != p.Second.Encoding))
        {
            throw new ArgumentException($"compare: {Path.GetFileName(a.Path)} and {Path.GetFileName(b.Path)} do not have the same fields (only in A: " +
                $"{string.Join(", ", onlyA.DefaultIfEmpty("-"))}; only in B: {string.Join(", ", onlyB.DefaultIfEmpty("-"))}); compare classifications of " +
                "one layout");
        }

        var names = Names(a.Layout, b.Layout);
        var workloads = LoadWorkloads(o, names);
        var costs = Program.Costs(o.CostsFile, o.Costs);
        WarnAboutMissingFields(a, workloads);
        var advisor = new Advisor(Profiles(a.Classification, workloads, names, o.Rounds, o.Seed));
        var advice = advisor.Explain(a.Classification, b.Classification, costs);
        var figure = o.Plot is null ? null : Plots.Advice(advice, "A = " + Path.GetFileName(a.Path), "B = " + Path.GetFileName(b.Path));
        if (o.Format == "json")
        {
            Console.WriteLine(ToJson(a, advice, null, b.Text.Namespace, o, costs, null, null, b.Path));
            o.Plot?.Write(figure!, null);
            return Program.Ran;
        }

        var console = Output();
        console.MarkupLine($"[bold]compare[/] A = {Markup.Escape(Path.GetFileName(a.Path))}, B = {Markup.Escape(Path.GetFileName(b.Path))} (today's engine, " +
            $"{o.Rounds} round trips per workload, seed {o.Seed})");
        PrintWorkloads(console, advice, "A", "B");
        PrintChanges(console, advice.Changes, "B");
        o.Plot?.Write(figure!, console);
        return Program.Ran;
    }
}
