using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Spectre.Console;
using VmcsGen.Nested;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>A manifest the advisor works on: its text, its compiled layout and its classification.</summary>
public sealed record ManifestInput(string Path, ManifestText Text, LayoutHandle Layout, Classification Classification);

/// <summary>
/// <c>advise</c>, <c>compare</c>, <c>record</c> and <c>convert</c>: the classification advisor's commands. Every input
/// mistake is one line naming the file and line (or the option) and exit status 2, with nothing written.
/// </summary>
public static class AdviseCommand
{
    public const int Refused = 4;

    /// <summary>Runs advise, compare, record or convert with these arguments as the tool does (Cli/*Verb.cs have the options).</summary>
    public static int Run(string command, string[] args) => SimApp.Execute([command, .. args]);

    /// <summary>The compiled-in layouts, and field names across all of them (plus the given extras).</summary>
    private static IReadOnlyList<LayoutHandle> CompiledLayouts { get; } = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Program).Assembly);

    public static IReadOnlyDictionary<string, uint> Names(params LayoutHandle[] extra) => Simulator.FieldNames(CompiledLayouts.Concat(extra));

    /// <summary>A shipped manifest by name (its compiled layout), or a .vmcs file compiled now; errors are the generator's, with file and line.</summary>
    public static ManifestInput LoadManifest(string nameOrPath)
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "fields", nameOrPath.EndsWith(".vmcs", StringComparison.Ordinal) ? nameOrPath : nameOrPath + ".vmcs");
        var compiled = CompiledLayouts.FirstOrDefault(l => l.ManifestFile == Path.GetFileName(shipped));
        if (!File.Exists(nameOrPath) && compiled is not null && File.Exists(shipped))
        {
            var shippedText = new ManifestText(shipped, File.ReadAllText(shipped));
            return new ManifestInput(shipped, shippedText, compiled, Classification.Of(compiled, shippedText.GroupNames()));
        }

        if (!File.Exists(nameOrPath))
        {
            throw new ArgumentException($"--manifest {nameOrPath}: neither a manifest compiled into NestedSim ({string.Join(", ", CompiledLayouts.Select(l => Path.GetFileNameWithoutExtension(l.ManifestFile)))}) nor a file");
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
            var first = result.Diagnostics.FirstOrDefault(d => d.Contains(" error ", StringComparison.Ordinal)) ?? result.Diagnostics.FirstOrDefault() ?? $"{nameOrPath}: no layout was generated";
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

    public static List<WorkloadProfile> Profiles(Classification fields, IEnumerable<(Workload Workload, double Weight)> workloads, IReadOnlyDictionary<string, uint> names, int rounds, int seed) =>
        workloads.Select(w => WorkloadProfile.Build(fields, w.Workload, names, Simulator.Trace(w.Workload, names, w.Workload.PerIteration == 0 ? 0 : rounds, seed), w.Weight)).ToList();

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

    /// <summary>
    /// Fields the workloads' L1 touches that the manifest lacks: the engine answers them VMfailValid(12), as a CPU would,
    /// and no classification changes that; the run is then not the workload as written (NestedSim's "unfaithful").
    /// </summary>
    private static void WarnAboutMissingFields(ManifestInput input, IEnumerable<(Workload Workload, double Weight)> workloads)
    {
        var missing = workloads
            .SelectMany(w => w.Workload.Setup.Concat(w.Workload.Exits.SelectMany(e => e.Steps)))
            .Where(step => step.Kind != StepKind.Event && input.Classification.IndexOf(step.Field) < 0 && !(step.Field.EndsWith("_HIGH", StringComparison.Ordinal) && input.Classification.IndexOf(step.Field[..^5]) >= 0))
            .Select(step => step.Field)
            .Distinct()
            .ToList();
        if (missing.Count > 0)
        {
            Console.Error.WriteLine($"NestedSim: warning: {Path.GetFileName(input.Path)} lacks fields the workloads use ({string.Join(", ", missing)}); L1's accesses to them fail with VMfailValid(12), whatever the classes");
        }
    }

    private static IEnumerable<string> Preamble(ManifestInput input, Advice advice, List<(Workload Workload, double Weight)> workloads, AdviseOptions o)
    {
        yield return $"Proposed by NestedSim advise from {Path.GetFileName(input.Path)}: {advice.Changes.Count} fields reclassified.";
        yield return $"Workloads: {string.Join(", ", workloads.Select(w => $"{w.Workload.Name} (weight {w.Weight.ToString("0.###", CultureInfo.InvariantCulture)})"))};";
        yield return $"{o.Rounds} round trips each, seed {o.Seed}, today's engine; costs {(o.CostsFile ?? "default")}.";
        yield return $"Modelled cycles per round trip (weighted): {advice.WeightedBefore.ToString("N0", CultureInfo.InvariantCulture)} -> {advice.WeightedAfter.ToString("N0", CultureInfo.InvariantCulture)}.";
        yield return string.Empty;
    }

    /// <summary>What proving a proposal found: diagnostics, how many workloads the engine matched the model on, the differential run.</summary>
    public sealed record Verification(IReadOnlyList<string> Diagnostics, int WorkloadsChecked, SafetyReport? Safety, string? Failure)
    {
        public bool Passed => Failure is null;
    }

    /// <summary>
    /// Builds the proposal with the generator (no diagnostic allowed), runs the profiles' round trips on its compiled engine
    /// and holds the counts to the model's, then runs the engine-equals-reference property on it.
    /// </summary>
    public static Verification Verify(
        string path, string text, Advice advice, IReadOnlyList<WorkloadProfile> profiles, IReadOnlyDictionary<string, uint> names,
        AdviseOptions o, CostModel costs, Action<string>? update = null)
    {
        update?.Invoke("compiling the proposal with the generator");
        var compiled = ManifestCompiler.Compile(path, text);
        if (compiled.Layout is null || compiled.Diagnostics.Count > 0)
        {
            return new Verification(compiled.Diagnostics, 0, null, $"the proposal does not build cleanly: {compiled.Diagnostics.FirstOrDefault() ?? "no layout"}");
        }

        var options = new NestedVmxOptions();
        var strategy = new Strategy("proposal", path, compiled.Layout, options);
        var built = Classification.Of(compiled.Layout, new ManifestText(path, text).GroupNames());
        if (!built.Fields.Select(f => f.Encoding).SequenceEqual(advice.After.Fields.Select(f => f.Encoding)))
        {
            return new Verification(compiled.Diagnostics, 0, null, "the compiled proposal does not have the fields of the manifest it came from");
        }

        // The profiles index fields as the manifest does, and the proposal has the same fields: they apply as they are.
        var model = new CountModel(built, options);
        var checkedCount = 0;
        foreach (var profile in profiles.Where(p => p.Rounds > 0))
        {
            update?.Invoke($"running {profile.Workload.Name} on the proposal's engine");
            var engine = Simulator.Run(strategy, profile.Workload, names, profile.Trace, costs);
            var counted = model.Count(profile);
            if (counted != engine.Total)
            {
                return new Verification(compiled.Diagnostics, checkedCount, null, $"on {profile.Workload.Name} the compiled engine counted {engine.Total} but the model {counted}");
            }

            checkedCount++;
        }

        update?.Invoke($"engine vs reference on {o.Safety} random sequences");
        var safety = SafetyCheck.Run(compiled.Layout, o.Safety, o.Seed, focus: advice.Changes.Select(c => c.After.Encoding).ToList());
        return new Verification(compiled.Diagnostics, checkedCount, safety, safety.Safe ? null : "the engine diverged from the reference engine: " + safety.Divergence);
    }

    private static void Print(IAnsiConsole console, ManifestInput input, Advice advice, TimeSpan searchTime, Verification verification, string ns)
    {
        console.MarkupLine($"[bold]advise[/] {Markup.Escape(Path.GetFileName(input.Path))} → proposal [bold]{Markup.Escape(ns)}[/] (today's engine; {advice.Evaluations:N0} classifications evaluated in {searchTime.TotalSeconds:0.0} s, {advice.Steps} steps)");
        PrintWorkloads(console, advice, "before", "proposal");
        PrintChanges(console, advice.Changes, "the proposal");
        PrintRobustness(console, advice);
        var s = verification.Safety;
        console.MarkupLine(verification.Passed
            ? $"[green]proved[/]: builds with no diagnostic; its compiled engine counted exactly what the model counted on {verification.WorkloadsChecked} workloads; engine = reference on {s!.Sequences} random sequences ({s.Events:N0} events, {s.L2Exits:N0} L2 exits, {s.TrappedAccesses:N0} trapped and {s.ShadowedAccesses:N0} shadowed accesses, {s.RareSyncs:N0} rare syncs)"
            : $"[red]not proved[/]: {Markup.Escape(verification.Failure!)}");
    }

    public static void PrintWorkloads(IAnsiConsole console, Advice advice, string beforeName, string afterName)
    {
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("workload");
        table.AddColumn(new TableColumn("weight").RightAligned());
        table.AddColumn(new TableColumn($"{beforeName} cycles/rt").RightAligned());
        table.AddColumn(new TableColumn($"{afterName} cycles/rt").RightAligned());
        table.AddColumn(new TableColumn("saving").RightAligned());
        foreach (var (workload, weight, before, after) in advice.PerWorkload)
        {
            table.AddRow(Markup.Escape(workload), weight.ToString("0.###", CultureInfo.InvariantCulture), before.ToString("N0", CultureInfo.InvariantCulture), after.ToString("N0", CultureInfo.InvariantCulture), Saving(before, after));
        }

        table.AddRow("[bold]weighted[/]", string.Empty, advice.WeightedBefore.ToString("N0", CultureInfo.InvariantCulture), advice.WeightedAfter.ToString("N0", CultureInfo.InvariantCulture), Saving(advice.WeightedBefore, advice.WeightedAfter));
        console.Write(table);
    }

    private static string Saving(double before, double after) =>
        before == 0 ? "-" : $"{(before - after).ToString("N0", CultureInfo.InvariantCulture)} ({((before - after) / before * 100).ToString("0.0", CultureInfo.InvariantCulture)} %)";

    public static void PrintChanges(IAnsiConsole console, IReadOnlyList<FieldChange> changes, string afterName)
    {
        if (changes.Count == 0)
        {
            console.MarkupLine("no field changes");
            return;
        }

        var table = new Table().Border(TableBorder.Simple).Title($"{changes.Count} field changes, each valued alone in {afterName}");
        table.AddColumn("field");
        table.AddColumn("change");
        table.AddColumn(new TableColumn("read").RightAligned());
        table.AddColumn(new TableColumn("written").RightAligned());
        table.AddColumn(new TableColumn("saves cycles/rt").RightAligned());
        table.AddColumn("what it moves per round trip (− fewer, + more)");
        foreach (var change in changes)
        {
            table.AddRow(
                change.After.Name, Markup.Escape($"{change.Before.Describe()} → {change.After.Describe()}"),
                Advisor.Percent(change.ReadShare), Advisor.Percent(change.WriteShare),
                double.IsNaN(change.Cycles) ? "required" : change.Cycles.ToString("0.0", CultureInfo.InvariantCulture),
                Markup.Escape(Reason(change)));
        }

        console.Write(table);
    }

    /// <summary>"saves 1 VMREAD per entry" in the counters' words: negative = the change removes them.</summary>
    public static string Reason(FieldChange change) =>
        change.Counts.Count == 0
            ? "nothing on these workloads (a rule made it: see docs)"
            : string.Join(", ", change.Counts.OrderBy(kv => kv.Value).Select(kv => $"{(kv.Value < 0 ? "−" : "+")}{Math.Abs(kv.Value).ToString("0.###", CultureInfo.InvariantCulture)} {kv.Key}"));

    private static void PrintRobustness(IAnsiConsole console, Advice advice)
    {
        var table = new Table().Border(TableBorder.Simple).Title("the saving when one uncertain cost term sits at an end of its range");
        table.AddColumn("cost term");
        table.AddColumn(new TableColumn("range").RightAligned());
        table.AddColumn(new TableColumn("saving at min").RightAligned());
        table.AddColumn(new TableColumn("saving at max").RightAligned());
        table.AddColumn("holds");
        var still = advice.Robustness.Where(r => Math.Abs(r.SavingAtMax - r.SavingAtMin) < 0.05).Select(r => r.Term).ToList();
        foreach (var r in advice.Robustness.Where(r => !still.Contains(r.Term)))
        {
            table.AddRow(r.Term, $"{r.Min.ToString("0.#", CultureInfo.InvariantCulture)}–{r.Max.ToString("0.#", CultureInfo.InvariantCulture)}", r.SavingAtMin.ToString("N1", CultureInfo.InvariantCulture), r.SavingAtMax.ToString("N1", CultureInfo.InvariantCulture), r.Holds ? "yes" : "[red]NO: wins only for some values[/]");
        }

        console.Write(table);
        if (still.Count > 0)
        {
            console.MarkupLine($"the saving does not depend on {string.Join(", ", still)} (fixed per round trip, the same on both sides)");
        }

        console.MarkupLine($"with every uncertain term at its least favourable end at once, the saving is {advice.WorstCaseSaving.ToString("N1", CultureInfo.InvariantCulture)} cycles per round trip");
        if (!advice.Robust)
        {
            console.MarkupLine("[yellow]flagged[/]: the proposal costs more than the manifest for some values of the cost terms; calibrate to your host (calibrate --help) before adopting it");
        }
    }

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
            throw new ArgumentException($"compare: {Path.GetFileName(a.Path)} and {Path.GetFileName(b.Path)} do not have the same fields (only in A: {string.Join(", ", onlyA.DefaultIfEmpty("-"))}; only in B: {string.Join(", ", onlyB.DefaultIfEmpty("-"))}); compare classifications of one layout");
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
        console.MarkupLine($"[bold]compare[/] A = {Markup.Escape(Path.GetFileName(a.Path))}, B = {Markup.Escape(Path.GetFileName(b.Path))} (today's engine, {o.Rounds} round trips per workload, seed {o.Seed})");
        PrintWorkloads(console, advice, "A", "B");
        PrintChanges(console, advice.Changes, "B");
        o.Plot?.Write(figure!, console);
        return Program.Ran;
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
            : $"{Path.GetFileName(input.Path)} marks {string.Join(", ", unsound.Select(f => f.Name))} no-sync, but a VM exit saves {(unsound.Count == 1 ? "it" : "them")} and L0 does not keep {(unsound.Count == 1 ? "it" : "them")} current (warning VMCS0126; verify --manifest {input.Path} shows the divergence)";
    }

    internal static int Record(AdviseOptions o)
    {
        var output = o.Out ?? throw new ArgumentException("record needs --out FILE.trace");
        var input = LoadManifest(o.Manifest ?? "kvm");
        var names = Names(input.Layout);
        if (o.Workloads.Count != 1 || o.Traces.Count > 0 || o.Suite is not null)
        {
            throw new ArgumentException("record takes exactly one --workload");
        }

        var (workload, _) = LoadWorkloads(o, names).Single();
        if (workload.PerIteration == 0)
        {
            throw new ArgumentException($"--workload {workload.Name}: it never exits to L1 (per-iteration 0); there is nothing to record");
        }

        var trace = Simulator.Trace(workload, names, o.Rounds, o.Seed);
        var temporary = output + ".tmp";
        using (var stream = File.Create(temporary))
        using (var compressed = output.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new System.IO.Compression.GZipStream(stream, System.IO.Compression.CompressionLevel.Optimal) : (Stream)stream)
        using (var file = new StreamWriter(compressed))
        {
            file.WriteLine($"# recorded by NestedSim record: workload {workload.Name} on {input.Layout.ManifestFile}, {o.Rounds} round trips, seed {o.Seed}");
            var strategy = new Strategy("record", input.Layout.ManifestFile, input.Layout, new NestedVmxOptions());
            Simulator.Run(strategy, workload, names, trace, new CostModel(), wrap: engine => new NestedTraceRecorder(engine, file, input.Layout.Fields), warmup: 0);
        }

        File.Move(temporary, output, overwrite: true);
        Console.WriteLine($"wrote {output}: {o.Rounds} round trips of {workload.Name} on {input.Layout.ManifestFile}");
        return Program.Ran;
    }

    internal static int Convert(AdviseOptions o)
    {
        if (o.Positional.Count != 1)
        {
            throw new ArgumentException("convert takes one trace file: convert FILE.trace --out FILE.workload");
        }

        var output = o.Out ?? throw new ArgumentException("convert needs --out FILE.workload");
        var names = Names();
        var trace = TraceFile.Load(o.Positional[0], names);
        var workload = TraceFile.ToWorkload(trace, TraceFile.NameOf(o.Positional[0]));
        Simulator.Validate(workload, names);
        var temporary = output + ".tmp";
        File.WriteAllText(temporary, TraceFile.ToWorkloadText(workload));
        File.Move(temporary, output, overwrite: true);
        Console.WriteLine($"wrote {output}: {trace.Rounds.Count} round trips as {workload.Exits.Count} exit blocks");
        return Program.Ran;
    }

    /// <summary>Schema vmcsgen-advise/1 (samples/NestedSim/README.md): the same numbers as the tables.</summary>
    private static string ToJson(
        ManifestInput input, Advice advice, Verification? verification, string ns, AdviseOptions o, CostModel costs, string? written, TimeSpan? searchTime, string? comparedWith = null) =>
        System.Text.Json.JsonSerializer.Serialize(new
        {
            schema = Report.AdviseSchema,
            command = comparedWith is null ? "advise" : "compare",
            manifest = input.Path,
            proposal = comparedWith is null ? new { file = written, layout = ns } : new { file = (string?)comparedWith, layout = ns },
            engine = "today's (NestedVmxOptions defaults)",
            rounds = o.Rounds,
            seed = o.Seed,
            costs = costs.Cycles,
            search = searchTime is { } t ? new { seconds = t.TotalSeconds, evaluations = advice.Evaluations, steps = advice.Steps } : null,
            workloads = advice.PerWorkload.Select(w => new { name = w.Workload, weight = w.Weight, before = w.Before, after = w.After }),
            weighted = new { before = advice.WeightedBefore, after = advice.WeightedAfter, saving = advice.Saving },
            changes = advice.Changes.Select(c => new
            {
                field = c.After.Name,
                before = c.Before.Describe(),
                after = c.After.Describe(),
                readShare = c.ReadShare,
                writeShare = c.WriteShare,
                cyclesSaved = double.IsNaN(c.Cycles) ? (double?)null : c.Cycles,
                perRoundTrip = c.Counts,
            }),
            robustness = advice.Robustness.Select(r => new { term = r.Term, min = r.Min, max = r.Max, savingAtMin = r.SavingAtMin, savingAtMax = r.SavingAtMax, holds = r.Holds }),
            worstCaseSaving = advice.WorstCaseSaving,
            robust = advice.Robust,
            verification = verification is null ? null : new
            {
                passed = verification.Passed,
                failure = verification.Failure,
                diagnostics = verification.Diagnostics,
                workloadsChecked = verification.WorkloadsChecked,
                safety = verification.Safety,
            },
        }, Report.Json);

    private static void Progress(bool interactive, string what, Action<Action<string>> work)
    {
        if (!interactive)
        {
            work(_ => { });
            return;
        }

        AnsiConsole.Status().Start(what, ctx => work(status => ctx.Status(Markup.Escape(status))));
    }

    private static IAnsiConsole Output() => ConsoleOutput.Current(redirectedWidth: 200);
}

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
        }) ?? new AdviseOptions(null, [], [], null, null, new Dictionary<string, double>(), null, null, Options.DefaultRounds, 1, AdviseSettings.DefaultSafety, Quiet: false, Help: true, []);
}
