using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Nested;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// The classification advisor against history: started from KVM's pre-2019 classification, does it find what KVM's 2019
/// series found by hand (Bonzini/Christopherson, "KVM: nVMX: Shadow VMCS read-only fields", "Optimize VMCS data copying":
/// the read-only split of the exit information and CS/SS AR bytes, the 35-field rare set)? And is what it proposes real:
/// a manifest the generator builds cleanly, whose engine counts what the model counted and equals the reference engine?
/// </summary>
public sealed class AdvisorTests
{
    private const int Rounds = Options.DefaultRounds; // what the tool runs by default

    private static readonly AdviseOptions Defaults = AdviseOptions.Parse("advise",
        ["--rounds", Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--safety", "2000"]);

    private static (ManifestInput Input, List<(Workload Workload, double Weight)> Workloads, IReadOnlyDictionary<string, uint> Names,
        Advisor Advisor) Setup(string manifest, params string[] args)
    {
        var input = AdviseCommand.LoadManifest(manifest);
        var names = AdviseCommand.Names(input.Layout);
        var workloads = AdviseCommand.LoadWorkloads(AdviseOptions.Parse("advise", args), names);
        return (input, workloads, names, new Advisor(AdviseCommand.Profiles(input.Classification, workloads, names, Rounds, seed: 1)));
    }

    /// <summary>
    /// What KVM's 2019 series did, from tests/Reference/vmcs-fields.tsv (read from arch/x86/kvm/vmx/vmcs_shadow_fields.h and
    /// nested.c's sync_vmcs02_to_vmcs12_rare; sources in its comment rows), not from this project's manifests: every field
    /// KVM shadows read-only that fields/kvm-2018.vmcs shadows read-write, and every field of KVM's rare set.
    /// </summary>
    private static List<(string Name, FieldClass Class)> Kvm2019Reclassifications(Classification kvm2018)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "vmcs-fields.tsv")).Where(l => l.Length > 0
            && !l.StartsWith('#')).ToList();
        var header = lines[0].Split('\t');
        int Column(string name) => Array.IndexOf(header, name);
        var (nameColumn, shadowColumn, rareColumn) = (Column("name"), Column("kvm_shadow"), Column("kvm_rare"));
        var target = new List<(string, FieldClass)>();
        foreach (var cells in lines.Skip(1).Select(l => l.Split('\t')))
        {
            string Cell(int i) => i < cells.Length ? cells[i] : string.Empty;
            var name = Cell(nameColumn);
            var before = kvm2018.IndexOf(name);
            if (before < 0)
            {
                continue; // a _HIGH form (it follows its full field), or a field vmcs12 lacks
            }

            if (Cell(shadowColumn) == "RO" && kvm2018.Fields[before].Class == FieldClass.ShadowRw)
            {
                target.Add((name, FieldClass.ShadowRo));
            }
            else if (Cell(rareColumn) == "yes")
            {
                target.Add((name, FieldClass.RareSync));
            }
        }

        return target;
    }

    [Test]
    public void FromKvm2018TheAdvisorFindsMostOfWhatKvmFoundIn2019AndCostsNoMoreThanKvm()
    {
        var costs = CostModel.Default();
        var (input, _, names, advisor) = Setup("kvm-2018", "--workload", "cpuid-loop", "--workload", "io-mix", "--workload", "idle", "--suite", "vmexit");
        var kvm = AdviseCommand.LoadManifest("kvm").Classification;
        var advice = advisor.Search(input.Classification, costs);

        var target = Kvm2019Reclassifications(input.Classification);
        var found = target.Where(f => advice.After.Fields[advice.After.IndexOf(f.Name)].Class == f.Class).ToList();
        TestContext.Out.WriteLine($"{found.Count} of KVM's {target.Count} reclassifications; missed: " +
            $"{string.Join(", ", target.Except(found).Select(f => f.Name))}");
        TestContext.Out.WriteLine($"weighted cycles per round trip: kvm-2018 {advice.WeightedBefore:N0}, proposal {advice.WeightedAfter:N0}, " +
            $"kvm.vmcs {advisor.Cost(kvm, costs):N0}");
        Assert.Multiple(() =>
        {
            Assert.That(target, Has.Count.EqualTo(46), "11 read-only splits and the 35 rare fields");
            Assert.That(found.Count, Is.GreaterThanOrEqualTo(0.8 * target.Count));
            Assert.That(advice.WeightedAfter, Is.LessThanOrEqualTo(advisor.Cost(kvm, costs)));
            Assert.That(Advisor.WithinLimits(advice.After), Is.True);
        });

        var text = input.Text.Rewrite(input.Classification, advice.After, "VmcsGen.Layouts.Kvm2018Advised", ["test"]);
        var verification = AdviseCommand.Verify("kvm-2018.advised.vmcs", text, advice, advisor.Profiles, names, Defaults, costs);
        Assert.That(verification.Failure, Is.Null);
        Assert.That(verification.WorkloadsChecked, Is.EqualTo(advisor.Profiles.Count(p => p.Rounds > 0)));
        Assert.That(verification.Safety!.Sequences, Is.EqualTo(2000), "the full safety run: 2,000 sequences focused on the reclassified fields");
    }

    [Test]
    public void OnKvmTheAdvisorReportsAFurtherSavingThatHoldsAcrossTheCostRanges()
    {
        var costs = CostModel.Default();
        var (input, _, _, advisor) = Setup("kvm", "--workload", "cpuid-loop", "--workload", "io-mix", "--workload", "idle");
        var advice = advisor.Search(input.Classification, costs);
        string Percent(double before, double after) => ((before - after) / before * 100).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) +
            " %";
        foreach (var (workload, _, before, after) in advice.PerWorkload)
        {
            TestContext.Out.WriteLine($"{workload}: {before:N0} -> {after:N0} ({Percent(before, after)})");
        }

        TestContext.Out.WriteLine($"weighted: {Percent(advice.WeightedBefore, advice.WeightedAfter)}");

        Assert.Multiple(() =>
        {
            Assert.That(advice.Saving, Is.GreaterThan(0));
            Assert.That(advice.PerWorkload.All(w => w.After <= w.Before + 0.01), Is.True, "no workload pays for another");
            Assert.That(advice.Robustness.All(r => r.Holds), Is.True, "the saving holds at both ends of every cost range");
            Assert.That(advice.WorstCaseSaving,
                Is.GreaterThan(0).And.LessThanOrEqualTo(advice.Robustness.Min(r => Math.Min(r.SavingAtMin, r.SavingAtMax)) + 1e-6),
                "and at the worst corner of all ranges, which no single term beats");
            Assert.That(advice.Changes.All(c => !double.IsNaN(c.Cycles) && c.Cycles > 0), Is.True, "each change saves on its own");
            Assert.That(advice.Changes.All(c => c.Counts.Count > 0), Is.True, "each change says what it moves");
        });
    }

    [Test]
    public void TheRulesKeepEveryFieldWhereTheGeneratorAndTheSdmWantIt()
    {
        var kvm = AdviseCommand.LoadManifest("kvm").Classification;
        FieldChoice Field(string name) => kvm.Fields[kvm.IndexOf(name)];
        Assert.Multiple(() =>
        {
            Assert.That(Advisor.Allowed(Field("VM_INSTRUCTION_ERROR"), vmwriteAny: true), Is.EqualTo(new[] { FieldClass.NoSync }), "VMCS0113: L0 writes it");
            Assert.That(Advisor.Allowed(Field("VM_EXIT_REASON"), vmwriteAny: false), Does.Not.Contain(FieldClass.ShadowRw), "VMCS0111: read-only by type");
            Assert.That(Advisor.Allowed(Field("VM_EXIT_REASON"), vmwriteAny: false), Does.Not.Contain(FieldClass.RareSync), "VMCS0110: not guest state");
            Assert.That(Advisor.Allowed(Field("GUEST_CS_AR_BYTES"), vmwriteAny: true), Does.Not.Contain(FieldClass.ShadowRw), "VMCS0115: AR bytes are masked");
            Assert.That(Advisor.Allowed(Field("GUEST_RIP"), vmwriteAny: true), Does.Not.Contain(FieldClass.NoSync),
                "a synced guest field never stops being synced");
            Assert.That(Advisor.Allowed(Field("GUEST_IA32_PAT"), vmwriteAny: true), Does.Contain(FieldClass.NoSync).And.Not.Contain(FieldClass.RareSync));
            Assert.That(Advisor.Moves(Field("GUEST_ES_SELECTOR"), true).Any(m => m.ControlShadow), Is.False, "control-shadow only on controls (VMCS0201)");
            Assert.That(Advisor.Moves(Field("POSTED_INTR_NV"), true).Any(m => m.ControlShadow), Is.False, "nor on 16-bit ones (VMCS0202)");
            Assert.That(Advisor.Moves(Field("GUEST_RIP"), true).Where(m => m.Class == FieldClass.ShadowRw).All(m => m.Group is null), Is.True,
                "no group on shadow-rw (VMCS0112)");
            Assert.That(new[] { "GUEST_INTR_STATUS", "EOI_EXIT_BITMAP0", "X_1ST__FIELD", "NONE" }.Select(Advisor.GroupName),
                Is.EqualTo(new[] { "guest-intr-status", "eoi-exit-bitmap0", "x-f1st-field", "none-field" }), "group names the generator accepts (VMCS0013)");
        });
    }

    /// <summary>
    /// Beyond the shipped manifests: random legal reclassifications of kvm.vmcs (classes, control shadows, dirty groups),
    /// each built by the generator in process, run on its compiled engine, and held to the model counter for counter.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void OnRandomClassificationsTheModelCountsWhatTheCompiledEngineCounts(int seed)
    {
        var (input, workloads, names, _) = Setup("kvm", "--workload", "idle", "--workload", "io-mix", "--workload", "cpuid-loop");
        var random = new Random(seed);
        var c = input.Classification;
        for (var moves = 0; moves < 40; moves++)
        {
            var i = random.Next(c.Fields.Length);
            var options = Advisor.Moves(c.Fields[i], c.VmwriteAny).ToList();
            if (options.Count > 0 && options[random.Next(options.Count)] is var move && Advisor.WithinLimits(c.With(i, move)))
            {
                c = c.With(i, move);
            }
        }

        var text = input.Text.Rewrite(input.Classification, c, $"VmcsGen.Layouts.Random{seed}", [$"random reclassification, seed {seed}"]);
        var compiled = ManifestCompiler.Compile($"random{seed}.vmcs", text);
        Assert.That(compiled.Diagnostics, Is.Empty, text);
        var strategy = new Strategy("random", "random", compiled.Layout!, new NestedVmxOptions());
        var model = new CountModel(Classification.Of(compiled.Layout!, new ManifestText("random.vmcs", text).GroupNames()), strategy.Options);
        Assert.That(model.Classification.Fields.Select(f => f.Describe()), Is.EqualTo(c.Fields.Select(f => f.Describe())),
            "the compiled layout has the classes the text asked for");
        foreach (var (workload, _) in workloads)
        {
            var trace = Simulator.Trace(workload, names, 2_000, seed);
            var engine = Simulator.Run(strategy, workload, names, trace, new CostModel());
            Assert.That(model.Count(WorkloadProfile.Build(model.Classification, workload, names, trace)), Is.EqualTo(engine.Total), workload.Name);
        }
    }

    /// <summary>The advisor focuses the safety run on the fields it reclassified; a stale GUEST_RIP is found there.</summary>
    [Test]
    public void TheSafetyCheckCatchesAnEngineThatGivesL1AStaleValue()
    {
        var layout = AdviseCommand.LoadManifest("kvm").Layout;
        Assert.That(SafetyCheck.Run(layout, 50, seed: 3).Safe, Is.True);
        var report = SafetyCheck.Run(layout, 200, seed: 3, focus: [0x681E], engineUnderTest: options => new StaleRip(layout.CreateEngine(options)));
        TestContext.Out.WriteLine(report);
        Assert.That(report.Safe, Is.False);
        Assert.That(report.Divergence, Does.Contain("VMREAD 0x681E"));
    }

    [Test]
    public void TheProposalDiffersFromItsManifestOnlyWhereItReclassifies()
    {
        var input = AdviseCommand.LoadManifest("kvm");
        var rip = input.Classification.IndexOf("GUEST_RIP");
        var proposal = input.Classification.With(rip, input.Classification.Fields[rip] with { Class = FieldClass.ShadowRo });
        var original = input.Text.Text.Split('\n');
        var rewritten = input.Text.Rewrite(input.Classification, proposal, "VmcsGen.Layouts.KvmAdvised", ["one line"]).Split('\n');
        var changed = rewritten.Skip(1).Zip(original).Where(p => p.First != p.Second).ToList();
        Assert.That(changed.Select(p => p.First.Split('#')[0].TrimEnd()), Is.EqualTo(new[]
        {
            "layout    VmcsGen.Layouts.KvmAdvised",
            "GUEST_RIP                      0x681e  @544  shadow-ro",
        }));
    }

    /// <summary>A broken engine: after any L1 VMWRITE of GUEST_RIP, its VMREAD returns the old value.</summary>
    private sealed class StaleRip(INestedEngine inner) : INestedEngine
    {
        private ulong? _stale;

        public L1Memory Memory => inner.Memory;

        public bool InL2 => inner.InL2;

        public VmxResult L1VmRead(ulong encoding, out ulong value)
        {
            var result = inner.L1VmRead(encoding, out value);
            if (encoding == 0x681E && _stale is { } old && result.IsSuccess)
            {
                value = old;
            }

            return result;
        }

        public VmxResult L1VmWrite(ulong encoding, ulong value)
        {
            if (encoding == 0x681E && inner.L1VmRead(encoding, out var old).IsSuccess)
            {
                _stale = old;
            }

            return inner.L1VmWrite(encoding, value);
        }

        public VmxResult L1VmPtrSt(out ulong pointer) => inner.L1VmPtrSt(out pointer);

        public VmxResult L1VmxOn(ulong address) => inner.L1VmxOn(address);

        public VmxResult L1VmxOff() => inner.L1VmxOff();

        public void L2WriteThrough(uint encoding, ulong value) => inner.L2WriteThrough(encoding, value);

        public void ImportNestedState(NestedState state) => inner.ImportNestedState(state);

        public VmxResult L1VmPtrLd(ulong address) => inner.L1VmPtrLd(address);

        public VmxResult L1VmClear(ulong address) => inner.L1VmClear(address);

        public VmxResult L1VmLaunch() => inner.L1VmLaunch();

        public VmxResult L1VmResume() => inner.L1VmResume();

        public void L2Exit(ReadOnlySpan<FieldWrite> hardware) => inner.L2Exit(hardware);

        public NestedState ExportNestedState() => inner.ExportNestedState();
    }
}
