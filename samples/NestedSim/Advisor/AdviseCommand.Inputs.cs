using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>The advisor commands' inputs: manifests (shipped or compiled now), workloads and traces, and the soundness check.</summary>
public static partial class AdviseCommand
{
    /// <summary>The compiled-in layouts, and field names across all of them (plus the given extras).</summary>
    private static IReadOnlyList<LayoutHandle> CompiledLayouts { get; } = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly);

    public static IReadOnlyDictionary<string, uint> Names(params LayoutHandle[] extra) => Simulator.FieldNames(CompiledLayouts.Concat(extra));

    /// <summary>A shipped manifest by name (its compiled layout), or a .vmcs file compiled now; errors are the generator's, with file and line.</summary>
    public static ManifestInput LoadManifest(string nameOrPath)
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "fields", nameOrPath.EndsWith(".vmcs", StringComparison.Ordinal) ? nameOrPath : nameOrPath +
            ".vmcs");
        var compiled = CompiledLayouts.FirstOrDefault(l => l.ManifestFile == Path.GetFileName(shipped));
        if (!File.Exists(nameOrPath) && compiled is not null && File.Exists(shipped))
        {
            var shippedText = new ManifestText(shipped, File.ReadAllText(shipped));
            return new ManifestInput(shipped, shippedText, compiled, Classification.Of(compiled, shippedText.GroupNames()));
        }

        if (!File.Exists(nameOrPath))
        {
            throw new ArgumentException($"--manifest {nameOrPath}: neither a manifest compiled into NestedSim " +
                $"({string.Join(", ", CompiledLayouts.Select(l => Path.GetFileNameWithoutExtension(l.ManifestFile)))}) nor a file");
        }

        string text;
        try
        {
            text = File.ReadAllText(nameOrPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--manifest {nameOrPath}: cannot read it ({e.Message})");
        }

        var result = ManifestCompiler.Compile(nameOrPath, text);
        if (result.HasErrors || result.Layout is null)
        {
            var first = result.Diagnostics.FirstOrDefault(d => d.Contains(" error ", StringComparison.Ordinal)) ?? result.Diagnostics.FirstOrDefault()
                ?? $"{nameOrPath}: no layout was generated";
            var more = result.Diagnostics.Count(d => d.Contains(" error ", StringComparison.Ordinal)) - 1;
            throw new ArgumentException(first + (more > 0 ? $" (and {more} more error{(more == 1 ? string.Empty : "s")})" : string.Empty));
        }

        var manifestText = new ManifestText(nameOrPath, text);
        return new ManifestInput(nameOrPath, manifestText, result.Layout, Classification.Of(result.Layout, manifestText.GroupNames()));
    }

    /// <summary>The workloads and traces of the options, with their weights, checked against the field names.</summary>
    public static List<(Workload Workload, double Weight)> LoadWorkloads(AdviseOptions o, IReadOnlyDictionary<string, uint> names)
    {
        var list = new List<(Workload, double)>();
        var shipped = Program.ShippedWorkloads();
        foreach (var (name, weight) in o.Workloads.Count + o.Traces.Count + (o.Suite is null ? 0 : 1) == 0
                     ? new[] { "cpuid-loop", "io-mix", "idle" }.Select(w => (w, 1.0)).ToList()
                     : o.Workloads)
        {
            var workload = WorkloadParser.Load(Program.Resolve(name, shipped));
            Simulator.Validate(workload, names);
            list.Add((workload, weight));
        }

        foreach (var (path, weight) in o.Traces)
        {
            var trace = TraceFile.Load(path, names);
            var workload = TraceFile.ToWorkload(trace, TraceFile.NameOf(path));
            Simulator.Validate(workload, names);
            list.Add((workload, weight));
        }

        if (o.Suite is { } suite)
        {
            var tests = Suite.Load(suite.Name).Where(w => w.PerIteration > 0).ToList();
            foreach (var test in tests)
            {
                Simulator.Validate(test, names);
                list.Add((test, suite.Weight / tests.Count));
            }
        }

        if (!(list.Sum(w => w.Item2) > 0))
        {
            throw new ArgumentException("the workload weights sum to 0: give at least one workload a positive weight");
        }

        return list;
    }

    public static List<WorkloadProfile> Profiles(Classification fields, IEnumerable<(Workload Workload, double Weight)> workloads,
        IReadOnlyDictionary<string, uint> names, int rounds, int seed) =>
        workloads.Select(w => WorkloadProfile.Build(fields, w.Workload, names, Simulator.Trace(w.Workload, names, w.Workload.PerIteration == 0 ? 0 : rounds,
            seed), w.Weight)).ToList();

    /// <summary>
    /// Fields the workloads' L1 touches that the manifest lacks: the engine answers them VMfailValid(12), as a CPU would,
    /// and no classification changes that; the run is then not the workload as written (NestedSim's "unfaithful").
    /// </summary>
    private static void WarnAboutMissingFields(ManifestInput input, IEnumerable<(Workload Workload, double Weight)> workloads)
    {
        var missing = workloads
            .SelectMany(w => w.Workload.Setup.Concat(w.Workload.Exits.SelectMany(e => e.Steps)))
            .Where(step => step.Kind != StepKind.Event && input.Classification.IndexOf(step.Field) < 0
                && !(step.Field.EndsWith("_HIGH", StringComparison.Ordinal) && input.Classification.IndexOf(step.Field[..^5]) >= 0))
            .Select(step => step.Field)
            .Distinct()
            .ToList();
        if (missing.Count > 0)
        {
            Console.Error.WriteLine($"NestedSim: warning: {Path.GetFileName(input.Path)} lacks fields the workloads use ({string.Join(", ", missing)}); " +
                "L1's accesses to them fail with VMfailValid(12), whatever the classes");
        }
    }

    /// <summary>
    /// Null, or why the manifest is unsound on the CPU's side (the SDM's exit saves and the engine's L0 policy, the same
    /// check as warning VMCS0126): a no-sync field that a VM exit saves and L0 does not keep current.
    /// </summary>
    public static string? Unsound(ManifestInput input)
    {
        var unsound = CpuSide.UnsoundNoSync(input.Layout.Fields);
        return unsound.Count == 0
            ? null
            : $"{Path.GetFileName(input.Path)} marks {string.Join(", ", unsound.Select(f => f.Name))} no-sync, " +
                $"but a VM exit saves {(unsound.Count == 1 ? "it" : "them")} and L0 does not keep {(unsound.Count == 1 ? "it" : "them")} current (warning " +
                $"VMCS0126; verify --manifest {input.Path} shows the divergence)";
    }
}
