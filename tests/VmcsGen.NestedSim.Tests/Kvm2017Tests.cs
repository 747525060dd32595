using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// KVM before its December 2017 series (Linux 4.15) and the series' ladder to kvm-2018: the manifests against KVM's shadow
/// lists of both versions (tests/Reference/kvm-shadow-fields-2017.tsv), the engine options against the commits that removed
/// them, and the per-exit L1 traffic (Workloads/vmexit/kvm-l1.handlers) against the functions it was read from. Nothing
/// here compares with the series' published vmexit figures: those are the model's prediction target (README).
/// </summary>
public sealed class Kvm2017Tests
{
    private static readonly IReadOnlyList<Workload> Workloads = Suite.Load(Suite.Vmexit);

    private static readonly Dictionary<string, StrategyResult> Cache = new();

    private static StrategyResult Run(string strategy, string test)
    {
        var key = strategy + "/" + test;
        if (!Cache.TryGetValue(key, out var result))
        {
            var workload = Workloads.Single(w => w.Name == test);
            var trace = Simulator.Trace(workload, Sim.Names, 300, seed: 1);
            Cache[key] = result = Simulator.Run(Sim.Named(strategy), workload, Sim.Names, trace, CostModel.Default());
        }

        return result;
    }

    private static (HashSet<string> Ro, HashSet<string> Rw) Reference(string kernel)
    {
        var rows = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "kvm-shadow-fields-2017.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).Skip(1).Select(l => l.Split('\t')).Where(c => c[0] == kernel).ToList();
        return (rows.Where(c => c[1] == "RO").Select(c => c[2]).ToHashSet(), rows.Where(c => c[1] == "RW").Select(c => c[2]).ToHashSet());
    }

    [TestCase("kvm-2017.vmcs", "4.15")]
    [TestCase("ladder-2017-shadow-more.vmcs", "4.16")]
    public void ManifestShadowsWhatKvmOfThatVersionShadowed(string manifest, string kernel)
    {
        var (ro, rw) = Reference(kernel);
        var layout = Sim.Layouts.Single(l => l.ManifestFile == manifest);
        Assert.That(layout.Fields.Where(f => f.Class == FieldClass.ShadowRo).Select(f => f.Name), Is.EquivalentTo(ro), "shadow-ro");
        Assert.That(layout.Fields.Where(f => f.Class == FieldClass.ShadowRw).Select(f => f.Name), Is.EquivalentTo(rw), "shadow-rw");
        Assert.That(layout.VmwriteAny, Is.False, "L1 could not VMWRITE read-only fields before 2018, so they were never copied back");
    }

    [Test]
    public void TheSeriesMovedExactlyTheFieldsItsCommitNames()
    {
        // c5d167b27e00, "KVM: vmx: shadow more fields that are read/written on every vmexits": in, and (kept in
        // prepare_vmcs02_full from then on) out.
        var (_, rw15) = Reference("4.15");
        var (_, rw16) = Reference("4.16");
        Assert.That(rw16.Except(rw15), Is.EquivalentTo(new[] { "GUEST_INTR_STATUS", "GUEST_PML_INDEX", "GUEST_SS_AR_BYTES", "VMX_PREEMPTION_TIMER_VALUE" }));
        Assert.That(rw15.Except(rw16), Is.EquivalentTo(new[] { "GUEST_CS_SELECTOR", "GUEST_CS_LIMIT", "GUEST_CS_BASE", "GUEST_ES_BASE", "GUEST_BNDCFGS",
            "TSC_OFFSET" }));
    }

    /// <summary>
    /// L1's traffic per exit, under Linux 4.15 as L0 and after c5d167b27e00: the accesses that leave the shadow are
    /// GUEST_PML_INDEX (vmx_handle_exit → vmx_flush_pml_buffer, every slow-path exit), GUEST_INTR_STATUS
    /// (vcpu_enter_guest → vmx_sync_pir_to_irr → vmx_set_rvi, every entry), GUEST_SS_AR_BYTES (the CPL check of
    /// kvm_emulate_hypercall, and the instruction fetch of x86_emulate_instruction) and, the other way round, TSC_OFFSET
    /// (wr_tsc_adjust_msr: kvm_set_msr_common → vmx_write_tsc_offset).
    /// </summary>
    [TestCase("kvm-2017", "cpuid", 2, 0)]
    [TestCase("kvm-2017", "vmcall", 3, 0)]
    [TestCase("kvm-2017", "inl_from_kernel", 2, 0)]
    [TestCase("kvm-2017", "mmio-wildcard-eventfd:pci-mem", 2, 0)]
    [TestCase("kvm-2017", "mmio-datamatch-eventfd:pci-mem", 3, 0)]
    [TestCase("kvm-2017", "wr_tsc_adjust_msr", 2, 0)]
    [TestCase("+shadow-more-fields", "cpuid", 0, 0)]
    [TestCase("+shadow-more-fields", "vmcall", 0, 0)]
    [TestCase("+shadow-more-fields", "mmio-datamatch-eventfd:pci-mem", 0, 0)]
    [TestCase("+shadow-more-fields", "wr_tsc_adjust_msr", 0, 1)]
    [TestCase("kvm-2018", "wr_tsc_adjust_msr", 0, 1)]
    [TestCase("kvm-2018", "vmcall", 0, 0)]
    [TestCase("kvm-2018", "cpuid", 0, 0)]
    public void TrappedL1AccessesPerExitFollowTheShadowListsOfTheVersion(string strategy, string test, int vmreadExits, int vmwriteExits)
    {
        var r = Run(strategy, test);
        Assert.That((r.PerRound(r.Total.ExitsVmread), r.PerRound(r.Total.ExitsVmwrite)), Is.EqualTo(((double)vmreadExits, (double)vmwriteExits)));
        Assert.That(r.Faithful);
    }

    [Test]
    public void TheHandlersReadWhatTheirKernelFunctionsRead()
    {
        // kvm-l1.handlers: reads and writes per exit, as each block's comment derives them.
        (int Reads, int Writes) Count(string test)
        {
            var exit = Workloads.Single(w => w.Name == test).Exits.Single();
            return (exit.Steps.Count(s => s.Kind == StepKind.Read), exit.Steps.Count(s => s.Kind == StepKind.Write));
        }

        Assert.That(Count("cpuid"), Is.EqualTo((8, 1)), "tsv CPUID: 8 VMREADs; the RIP write");
        Assert.That(Count("wr_tsc_adjust_msr"), Is.EqualTo((8, 2)), "MSR_WRITE:slowpath + vmx_write_tsc_offset");
        Assert.That(Count("mmio-wildcard-eventfd:pci-mem"), Is.EqualTo((9, 1)), "v4.15 handle_ept_misconfig, fast MMIO bus, skip");
        Assert.That(Count("mmio-datamatch-eventfd:pci-mem"), Is.EqualTo((11, 2)), "v4.15 kvm_mmu_page_fault → x86_emulate_instruction");
    }

    [Test]
    public void DirtyTrackingStopsRewritingNonShadowedFieldsUnlessL1WroteOne()
    {
        // 74a497fae754: prepare_vmcs02 skips the non-shadowed fields unless vmcs12 is dirty. What stops: every non-shadowed
        // control and guest-state field of the manifest, and the link-pointer rewrite that follows it, except the major
        // controls, which prepare_vmcs02 kept writing on every entry until 2019.
        var c = Classification.Of(Sim.Named("+dirty-tracking").Layout);
        var nonShadowed = c.Fields.Count(f => f.IsEntryField && f.Class != FieldClass.ShadowRw);
        var majorControls = c.Fields.Count(f => VmcsEncoding.IsMajorControl(f.Encoding) && f.Class != FieldClass.ShadowRw);
        foreach (var test in new[] { "cpuid", "wr_tsc_adjust_msr" })
        {
            var before = Run("kvm-2017", test);
            var after = Run("+dirty-tracking", test);
            Assert.That(before.PerRound(before.Total.VmWrites) - after.PerRound(after.Total.VmWrites), Is.EqualTo(nonShadowed - majorControls + 1), test);
            Assert.That(after.Total.VmReads, Is.EqualTo(before.Total.VmReads), test);
        }

        // From c5d167b27e00 on, TSC_OFFSET is not shadowed: wr_tsc_adjust_msr's VMWRITE traps, and handle_vmwrite marks
        // vmcs12 dirty for any field that is not SHADOW_FIELD_RW (74a497fae754), so the full preparation is back every entry.
        var more = Classification.Of(Sim.Named("+shadow-more-fields").Layout);
        var nonShadowedThen = more.Fields.Count(f => f.IsEntryField && f.Class != FieldClass.ShadowRw);
        var tsc = Run("+shadow-more-fields", "wr_tsc_adjust_msr");
        var cpuid = Run("+shadow-more-fields", "cpuid");
        Assert.That(tsc.PerRound(tsc.Total.VmWrites) - cpuid.PerRound(cpuid.Total.VmWrites), Is.EqualTo(nonShadowedThen - majorControls + 1));
    }

    [Test]
    public void TheOldShadowCopySwitchesOnWidthOnceMorePerField()
    {
        // 44900ba65e16 dropped the switch on the field's width around the shadow VMCS accesses of both copy loops.
        var old = Run("+shadow-more-fields", "cpuid");
        var optimized = Run("+shadow-copy", "cpuid");
        Assert.That(old.Total.RuntimeLookups, Is.EqualTo(2 * optimized.Total.RuntimeLookups));
        Assert.That(old.Total.VmReads + old.Total.VmWrites, Is.EqualTo(optimized.Total.VmReads + optimized.Total.VmWrites));
    }

    [Test]
    public void TheSeriesSavesDifferentlyPerTestAsTheL1PathsDiffer()
    {
        double Saving(string test) => Run("kvm-2017", test).CyclesPerIteration - Run("kvm-2018", test).CyclesPerIteration;
        var cpuid = Saving("cpuid");
        Assert.That(Saving("vmcall"), Is.GreaterThan(cpuid), "vmcall's CPL check read SS AR bytes, trapped in 4.15");
        Assert.That(Saving("mmio-datamatch-eventfd:pci-mem"), Is.GreaterThan(Saving("mmio-wildcard-eventfd:pci-mem")), "emulation reads SS AR bytes");
        Assert.That(Saving("wr_tsc_adjust_msr"), Is.LessThan(cpuid), "TSC_OFFSET left the shadow: its write traps from 4.16 on");
        Assert.That(cpuid, Is.GreaterThan(0));
    }

    [Test]
    public void HistoryJsonHasEveryVersionAndTheChangesBetweenThem()
    {
        var workload = Workloads.Single(w => w.Name == "cpuid");
        var history = Suite.RunHistory(workload, Sim.Strategies, Sim.Names, 300, 1, CostModel.Default());
        using var json = JsonDocument.Parse(Report.HistoryToJson(Suite.Vmexit, [history], CostModel.Default(), 300, 1));
        var root = json.RootElement;
        Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo(Report.HistorySchema));
        Assert.That(root.GetProperty("versions").EnumerateArray().Select(v => v.GetString()), Is.EqualTo(new[] { "kvm-2017", "kvm-2018", "kvm" }));
        var test = root.GetProperty("tests")[0];
        Assert.That(test.GetProperty("name").GetString(), Is.EqualTo("cpuid"));
        var cycles = test.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("cycles").GetDouble()).ToArray();
        Assert.That(cycles, Is.EqualTo(history.Versions.Select(v => v.CyclesPerIteration).ToArray()));
        var changes = test.GetProperty("changes").EnumerateArray().ToArray();
        Assert.That(changes.Select(c => c.GetProperty("delta").GetDouble()), Is.EqualTo(new[] { cycles[1] - cycles[0], cycles[2] - cycles[1] }).Within(1e-9));
        Assert.That(changes[0].GetProperty("from").GetString(), Is.EqualTo("kvm-2017"));
        Assert.That(test.GetProperty("before").GetProperty("cycles").GetDouble(), Is.EqualTo(cycles[0]));
        Assert.That(test.GetProperty("after").GetProperty("cycles").GetDouble(), Is.EqualTo(cycles[2]));
    }

    [Test]
    public void FromToComparesAnyTwoStrategiesAndAttachesThe2019FiguresOnlyToTheirPair()
    {
        var workload = Workloads.Single(w => w.Name == "cpuid");
        var published = Suite.Published(Workloads.Select(w => w.Name).ToList());
        var t = Suite.Run(workload, Sim.Strategies, Sim.Names, 300, 1, CostModel.Default(), published, "kvm-2017", "+dirty-tracking");
        Assert.That((t.Before.Strategy.Name, t.After.Strategy.Name, t.Published), Is.EqualTo(("kvm-2017", "+dirty-tracking", (PublishedPoint?)null)));
        using var json = JsonDocument.Parse(Report.SuiteToJson(Suite.Vmexit, [t], CostModel.Default(), 300, 1));
        Assert.That(json.RootElement.GetProperty("from").GetString(), Is.EqualTo("kvm-2017"));
        Assert.That(json.RootElement.GetProperty("tests")[0].GetProperty("before").GetProperty("strategy").GetString(), Is.EqualTo("kvm-2017"));
        Assert.That(Suite.Run(workload, Sim.Strategies, Sim.Names, 300, 1, CostModel.Default(), published).Published, Is.Not.Null);
        Assert.That(() => Suite.Run(workload, Sim.Strategies, Sim.Names, 300, 1, CostModel.Default(), published, "kvm-1999", "kvm"),
            Throws.ArgumentException.With.Message.StartsWith("--from kvm-1999: no such strategy; there are: no-shadow, kvm-2017,"));
    }

    [TestCase(new[] { "--history" }, "Unknown option 'history'")]
    [TestCase(new[] { "--suite", "vmexit", "--history", "--to", "kvm" }, "--history shows kvm-2017, kvm-2018 and kvm; it takes no --from or --to")]
    [TestCase(new[] { "suite", "vmexit", "--from", "kvm-1999" }, "--from kvm-1999: no such strategy; there are: no-shadow, kvm-2017,")]
    [TestCase(new[] { "suite", "vmexit", "--to", "+dirty" }, "--to +dirty: no such strategy")]
    public void SuiteComparisonOptionsAreCheckedBeforeAnythingRuns(string[] args, string message) =>
        Assert.That(() => Options.Parse(args), Throws.ArgumentException.With.Message.Contains(message));

    [Test]
    public void SuiteComparisonOptionsReachTheRun()
    {
        var o = Options.Parse(["--suite", "vmexit", "--from", "kvm-2017", "--to", "+dirty-tracking"]);
        Assert.That((o.Suite, o.From, o.To, o.History), Is.EqualTo(("vmexit", "kvm-2017", "+dirty-tracking", false)));
        Assert.That(Options.Parse(["suite", "vmexit", "--history"]).History, Is.True);
    }

    [Test]
    public void TheLadderRunsInTheSeriesOrder()
    {
        var names = Sim.Strategies.Select(s => s.Name).ToList();
        string[] ladder = ["kvm-2017", "+dirty-tracking", "+shadow-more-fields", "+shadow-copy", "kvm-2018"];
        Assert.That(ladder.Select(n => names.IndexOf(n)), Is.Ordered.And.All.GreaterThanOrEqualTo(0));
        Assert.That(Strategies.History, Is.EqualTo(new[] { "kvm-2017", "kvm-2018", "kvm" }));
    }
}
