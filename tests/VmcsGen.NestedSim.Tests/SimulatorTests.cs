using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class SimulatorTests
{
    /// <summary>One exit: L1 reads the exit reason (shadow-ro), a rare field (trapped) and writes RIP (shadow-rw).</summary>
    private const string OneExit = """
        workload single
        exit CPUID weight 1
          hw    VM_EXIT_REASON  10
          read  VM_EXIT_REASON
          read  GUEST_ES_BASE
          write GUEST_RIP       +2
        end
        """;

    private static StrategyResult Run(string strategy, string text = OneExit, int rounds = 50)
    {
        var workload = WorkloadParser.Parse(text, "single.workload");
        var trace = Simulator.Trace(workload, Sim.Names, rounds, seed: 1);
        return Simulator.Run(Sim.Named(strategy), workload, Sim.Names, trace, new CostModel());
    }

    [Test]
    public void AHandCheckedExitUnderKvmCostsExactlyWhatTheClassesImply()
    {
        var r = Run("kvm");
        var c = r.Total;
        Assert.Multiple(() =>
        {
            // VM_EXIT_REASON (shadow-ro) and GUEST_RIP (shadow-rw) never exit; GUEST_ES_BASE (rare-sync) does.
            Assert.That((r.PerRound(c.ExitsVmread), r.PerRound(c.ExitsVmresume), r.PerRound(c.L1Exits)), Is.EqualTo((1.0, 1.0, 2.0)));
            Assert.That(r.PerRound(c.ShadowedVmreads + c.ShadowedVmwrites), Is.EqualTo(2.0));
            // exit: the every-exit set (VmcsGen.Layouts.Kvm.ExitSync; SyncTests holds it to KVM's sync_vmcs02_to_vmcs12 and
            // prepare_vmcs12); the trapped rare read: 35 rare fields; entry: 24 RW fields back from the shadow
            Assert.That(r.PerRound(c.VmReads), Is.EqualTo(VmcsGen.Layouts.Kvm.ExitSync.EveryExitCount + 35 + 24));
            // exit: 24 RW + 11 RO into the shadow, load_vmcs12_host_state's writes into vmcs01 (the engine's declared
            // model, which TransitionTrafficTests holds to KVM's function); entry: 20 shadow-rw fields minus the 2
            // unchanged control shadows
            Assert.That(r.PerRound(c.VmWrites), Is.EqualTo(35 + VmcsGen.Nested.NestedTraffic.HostStateLoadWrites + 18));
            // KVM's functions, one VMCS instruction per row of tests/Reference/kvm-nested-transitions.tsv: copy_shadow_to_vmcs12
            // and copy_vmcs12_to_shadow (VMPTRLD shadow, VMCLEAR shadow, VMPTRLD back), vmx_switch_vmcs twice,
            // copy_vmcs02_to_vmcs12_rare (vmcs02, then vmcs01) for the trapped rare read
            var kvm = Transitions();
            var vmptrlds = kvm.Count(r => r[0] is "copy_shadow_to_vmcs12" or "copy_vmcs12_to_shadow" or "copy_vmcs02_to_vmcs12_rare" && r[1] == "VMPTRLD")
                + (2 * kvm.Count(r => r[0] == "vmx_switch_vmcs" && r[1] == "VMPTRLD"));
            var vmclears = kvm.Count(r => r[0] is "copy_shadow_to_vmcs12" or "copy_vmcs12_to_shadow" && r[1] == "VMCLEAR");
            Assert.That((r.PerRound(c.VmPtrLds), r.PerRound(c.VmClears)), Is.EqualTo(((double)vmptrlds, (double)vmclears)));
            Assert.That((vmptrlds, vmclears), Is.EqualTo((8, 2)));
            Assert.That((r.PerRound(c.RareSyncs), r.PerRound(c.ControlVmWrites), r.PerRound(c.FullConsistencyChecks)), Is.EqualTo((1.0, 0.0, 0.0)));
        });
    }

    /// <summary>tests/Reference/kvm-nested-transitions.tsv as (function, instruction, target, condition) rows.</summary>
    private static List<string[]> Transitions() =>
        System.IO.File.ReadAllLines(System.IO.Path.Combine(AppContext.BaseDirectory, "Reference", "kvm-nested-transitions.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).Skip(1).Select(l => l.Split('\t')).ToList();

    [Test]
    public void TheSameExitUnderKvm2018()
    {
        var r = Run("kvm-2018");
        var c = r.Total;
        Assert.Multiple(() =>
        {
            Assert.That(r.PerRound(c.L1Exits), Is.EqualTo(2.0), "GUEST_ES_BASE is not shadowed in 2018 either");
            Assert.That(r.PerRound(c.RareSyncs), Is.Zero, "no rare set: ES base came back with the other fields on the exit");
            Assert.That(r.PerRound(c.VmReads), Is.EqualTo(VmcsGen.Layouts.Kvm.ExitSync.EveryExitCount + 35 + 6 + 34),
                "from vmcs02: today's every-exit set, the 35 rare fields and the 6 written through at WRMSR since 2019; 34 RW fields back from the shadow");
            Assert.That(r.PerRound(c.RuntimeLookups), Is.EqualTo(34 + 34), "each shadowed field's offset looked up at run time, in both copy directions");
            Assert.That(r.PerRound(c.ControlVmWrites), Is.EqualTo(5), "pin, primary, secondary, exit and entry controls every entry");
            Assert.That(r.PerRound(c.FullConsistencyChecks), Is.EqualTo(1.0));
            Assert.That(r.PerRound(c.VcpuStateSwitches), Is.EqualTo(2.0));
        });
    }

    [Test]
    public void WithoutAShadowVmcsEveryAccessExits()
    {
        var r = Run("no-shadow");
        Assert.That((r.PerRound(r.Total.ExitsVmread), r.PerRound(r.Total.ExitsVmwrite), r.PerRound(r.Total.L1Exits)), Is.EqualTo((2.0, 1.0, 4.0)));
    }

    [Test]
    public void ModelledCyclesAreFixedWorkPlusCountsTimesCosts()
    {
        var r = Run("kvm");
        var c = r.Total;
        var costs = new CostModel();
        double Cost(string name) => costs[name];
        var perRoundTrip = Cost("hardware-exit") + Cost("l0-nested-exit") + Cost("l0-nested-entry") + Cost("l1-exit-handling") + Cost("mitigations");
        var counted = (c.L1Exits * Cost("l1-exit")) + (c.VmReads * Cost("vmread")) + (c.VmWrites * Cost("vmwrite"))
            + ((c.ShadowedVmreads + c.ShadowedVmwrites) * Cost("shadowed-access")) + (c.VmPtrLds * Cost("vmptrld")) + (c.VmClears * Cost("vmclear"));
        var cost = costs.Of(c);
        Assert.Multiple(() =>
        {
            Assert.That((c.NestedExits, c.NestedEntries), Is.EqualTo((50L, 50L)));
            Assert.That(cost.Fixed, Is.EqualTo(50 * perRoundTrip).Within(1e-6));
            Assert.That(cost.Counted, Is.EqualTo(counted).Within(1e-6));
            Assert.That(cost.Total, Is.EqualTo(cost.ByTerm.Values.Sum()).Within(1e-6));
        });
        costs.Set("vmread", Cost("vmread") + 10);
        Assert.That(costs.Of(c).Total - cost.Total, Is.EqualTo(c.VmReads * 10.0).Within(1e-6));
    }

    [Test]
    public void EventsCostTheirTermOncePerFiring()
    {
        const string Userspace = """
            workload io
            exit IO weight 1
              hw    VM_EXIT_REASON  30
              read  VM_EXIT_REASON
              event l1-userspace
              event l1-inject       p=0.5
            end
            """;
        var r = Run("kvm", Userspace, rounds: 400);
        var costs = new CostModel();
        Assert.That(r.Events["l1-userspace"], Is.EqualTo(400));
        Assert.That(r.Events["l1-inject"], Is.InRange(140, 260));
        Assert.That(r.Cost.ByTerm["l1-userspace"], Is.EqualTo(400 * costs["l1-userspace"]));
        Assert.That(r.Cost.ByTerm["l1-inject"], Is.EqualTo(r.Events["l1-inject"] * costs["l1-inject"]));
    }

    [Test]
    public void AManifestThatLacksAWorkloadsFieldsIsMarkedUnfaithfulAndGetsNoDelta()
    {
        // fields/minimal.vmcs has no GUEST_PML_INDEX or GUEST_INTR_STATUS: L1's reads of them fail with VMfailValid(12),
        // so the strategy does less work than the workload asks and must not be ranked as cheaper.
        var strategy = Samples.NestedSim.Strategies.Build(Sim.Layouts, ["minimal"]).Last();
        var workload = WorkloadParser.Load(System.IO.Path.Combine(AppContext.BaseDirectory, "Workloads", "cpuid-loop.workload"));
        var trace = Simulator.Trace(workload, Sim.Names, 200, 1);
        var minimal = Simulator.Run(strategy, workload, Sim.Names, trace, new CostModel());
        var baseline = Simulator.Run(Sim.Named("kvm-2018"), workload, Sim.Names, trace, new CostModel());

        Assert.That(minimal.Faithful, Is.False);
        Assert.That(minimal.FailedAccesses["GUEST_PML_INDEX"], Is.EqualTo(200 + 100), "one failed read per round, warm-up included");
        Assert.That(baseline.Faithful);
        var numbers = RoundTripNumbers.Of(minimal, baseline);
        Assert.That((numbers.DeltaVsBaseline, numbers.ChangeVsBaseline), Is.EqualTo(((double?)null, (double?)null)));
    }

    [Test]
    public void TheSameSeedReplaysTheSameEventsAndAnotherSeedDoesNot()
    {
        var workload = WorkloadParser.Load(System.IO.Path.Combine(AppContext.BaseDirectory, "Workloads", "io-mix.workload"));
        string Key(int seed) =>
            string.Join(";", Simulator.Trace(workload, Sim.Names, 200, seed).Select(r => $"{r.Exit}:{r.Hardware.Length}:{r.Handler.Length}"));
        Assert.That(Key(7), Is.EqualTo(Key(7)));
        Assert.That(Key(7), Is.Not.EqualTo(Key(8)));
    }

    [Test]
    public void EachTechniqueOfTheLadderHelpsOnCpuid()
    {
        var workload = WorkloadParser.Load(System.IO.Path.Combine(AppContext.BaseDirectory, "Workloads", "cpuid-loop.workload"));
        var trace = Simulator.Trace(workload, Sim.Names, 2000, 1);
        // Two ladders: KVM's December 2017 series from kvm-2017 (Linux 4.15) to Linux 4.16, and the 2019 series from
        // kvm-2018 to kvm. Between them kvm-2018.vmcs copies the exit-information fields back on entry (L1 may VMWRITE
        // them there), so kvm-2018 costs a little more than Linux 4.16: that step is not a technique.
        string[][] ladders =
        [
            ["kvm-2017", "+dirty-tracking", "+shadow-more-fields", "+shadow-copy"],
            ["kvm-2018", "+ro-split", "+compile-time-offsets", "+rare-sync", "+control-shadows", "kvm"],
        ];
        foreach (var ladder in ladders)
        {
            var cycles = ladder.Select(n => Simulator.Run(Sim.Named(n), workload, Sim.Names, trace, new CostModel()).CyclesPerRound).ToList();
            TestContext.Out.WriteLine(string.Join(" > ", cycles.Select(c => c.ToString("N0"))));
            for (var i = 1; i < cycles.Count; i++)
            {
                Assert.That(cycles[i], Is.LessThan(cycles[i - 1]), $"step {ladder[i]} is cheaper than the step before");
            }
        }
    }
}
