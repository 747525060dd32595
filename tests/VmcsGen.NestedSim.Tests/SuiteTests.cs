using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class SuiteTests
{
    /// <summary>
    /// The tests of kvm-unit-tests x86/vmexit.c (its <c>tests[]</c> table, read at kvm-unit-tests commit 1da1819e), and
    /// four of the tests its pci-mem/pci-io entries ran at the end of 2017 (commit cb37ca1e, pci_next), named as vmexit.c
    /// prints them: QEMU pci-testdev's test name (hw/misc/pci-testdev.c: TYPE-TEST), ':', the entry's name. The two
    /// no-eventfd tests of that device (a round trip to QEMU) are not modelled.
    /// </summary>
    private static readonly string[] VmexitTests =
    [
        "cpuid", "vmcall", "wbinvd", "invd", "mov_from_cr8", "mov_to_cr8", "inl_from_pmtimer", "inl_from_qemu", "inl_from_kernel",
        "outl_to_kernel", "mov_dr", "tscdeadline_immed", "tscdeadline", "self_ipi_sti_nop", "self_ipi_sti_hlt", "self_ipi_tpr",
        "self_ipi_tpr_sti_nop", "self_ipi_tpr_sti_hlt", "x2apic_self_ipi_sti_nop", "x2apic_self_ipi_sti_hlt", "x2apic_self_ipi_tpr",
        "x2apic_self_ipi_tpr_sti_nop", "x2apic_self_ipi_tpr_sti_hlt", "ipi", "ipi_halt", "ple_round_robin", "wr_kernel_gs_base",
        "wr_tsx_ctrl_msr", "wr_ibrs_msr", "wr_ibpb_msr", "wr_tsc_adjust_msr", "rd_tsc_adjust_msr", "toggle_cr0_wp", "toggle_cr4_pge",
        "mmio-wildcard-eventfd:pci-mem", "mmio-datamatch-eventfd:pci-mem", "portio-wildcard-eventfd:pci-io", "portio-datamatch-eventfd:pci-io",
    ];

    private static readonly IReadOnlyList<Workload> Workloads = Suite.Load(Suite.Vmexit);

    private static Workload Test(string name) => Workloads.Single(w => w.Name == name);

    private static SuiteTest Run(string name, int rounds = 400) =>
        Suite.Run(Test(name), Sim.Strategies, Sim.Names, rounds, seed: 1, new CostModel(), new Dictionary<string, PublishedPoint>());

    [Test]
    public void EveryVmexitTestHasAWorkloadNamedAsTheTestAndFileAndItValidates()
    {
        Assert.That(Workloads.Select(w => w.Name), Is.EquivalentTo(VmexitTests));
        foreach (var w in Workloads)
        {
            Assert.That(Path.GetFileNameWithoutExtension(w.Path), Is.EqualTo(Suite.FileNameOf(w.Name)));
            Assert.DoesNotThrow(() => Simulator.Validate(w, Sim.Names), w.Name);
        }
    }

    [TestCase("cpuid", 1)]
    [TestCase("inl_from_qemu", 1)]
    [TestCase("self_ipi_sti_hlt", 2)]
    [TestCase("x2apic_self_ipi_sti_hlt", 1)]
    [TestCase("x2apic_self_ipi_sti_nop", 0)]
    [TestCase("mov_to_cr8", 0)]
    public void RoundTripsPerIterationFollowWhatExitsAsRunNested(string name, int roundTrips) =>
        Assert.That(Test(name).PerIteration, Is.EqualTo(roundTrips));

    [Test]
    public void CpuidAsKvmHandlesItCostsOneL1ExitOnEitherSideOfTheSeries()
    {
        // kvm-l1-exit-accesses.tsv section CPUID: 8 VMREADs and the RIP write, all shadowed by KVM as L0 in 2018 and today
        // (vmcs_shadow_fields.h), so only VMRESUME exits.
        var t = Run("cpuid");
        foreach (var side in new[] { t.Before, t.After })
        {
            Assert.That(side.PerRound(side.Total.L1Exits), Is.EqualTo(1.0), side.Strategy.Name);
            Assert.That(side.PerRound(side.Total.ShadowedVmreads), Is.EqualTo(8.0), side.Strategy.Name);
            Assert.That(side.PerRound(side.Total.ShadowedVmwrites), Is.EqualTo(1.0), side.Strategy.Name);
            Assert.That(side.Faithful, side.Strategy.Name);
        }
    }

    [Test]
    public void AUserspaceTestCostsItsFixedEventOnTopOfTheInKernelOne()
    {
        var costs = new CostModel();
        var kernel = Run("inl_from_kernel");
        var qemu = Run("inl_from_qemu");
        Assert.That(qemu.Before.Events[CostModel.UserspaceEvent], Is.EqualTo(400));
        Assert.That(qemu.Before.PerRound(qemu.Before.Cost.Fixed) - kernel.Before.PerRound(kernel.Before.Cost.Fixed),
            Is.EqualTo(costs[CostModel.UserspaceEvent]).Within(1e-6));
    }

    [Test]
    public void ATestThatNeverExitsCostsNothingOnEitherSide()
    {
        var t = Run("mov_to_cr8");
        Assert.That((t.BeforeCycles, t.AfterCycles, t.Delta, t.Change), Is.EqualTo((0.0, 0.0, 0.0, 0.0)));
    }

    [Test]
    public void ATwoExitTestCostsTwoRoundTripsPerIteration()
    {
        var t = Run("self_ipi_sti_hlt", rounds: 1000);
        Assert.That(t.BeforeCycles, Is.EqualTo(2 * t.Before.CyclesPerRound).Within(1e-6));
    }

    [Test]
    public void ThePublishedTableNamesOnlySuiteTests()
    {
        var published = Suite.Published(VmexitTests);
        Assert.That(published.Count, Is.EqualTo(13));
        Assert.That((published["cpuid"].Before, published["cpuid"].After), Is.EqualTo((14886.0, 13142.0)));
        Assert.That(published["cpuid"].Change, Is.EqualTo((13142.0 - 14886) / 14886));
    }

    /// <summary>
    /// What each row of Bonzini's 2019 table (Calibration/kvm-2019-vmx-optimizations.tsv, "[PATCH 00/43] VMX
    /// optimizations", 2019-06-13) checks: <c>fitted</c>, an anchor <c>calibrate</c> derives the default costs from;
    /// <c>same-path</c>, a row whose modelled L0 and L1 work is an anchor's (inl_from_pmtimer takes inl_from_qemu's path
    /// to QEMU; inl_from_kernel and outl_to_kernel take CPUID's with one more shadowed read), so it checks little beyond
    /// the anchors; <c>tuned-on</c>, an interrupt row: the l1-inject term was added after these rows showed the interrupt
    /// tests above cpuid, with an estimate, so they checked the model's design. No row of this table is independent: the
    /// model's out-of-sample check is KVM's December 2017 series (Kvm2017Tests, README).
    /// </summary>
    private static readonly Dictionary<string, string> RowRole = new()
    {
        ["cpuid"] = "fitted", ["vmcall"] = "fitted", ["inl_from_qemu"] = "fitted",
        ["inl_from_pmtimer"] = "same-path", ["inl_from_kernel"] = "same-path", ["outl_to_kernel"] = "same-path",
        ["self_ipi_sti_nop"] = "tuned-on", ["self_ipi_sti_hlt"] = "tuned-on", ["self_ipi_tpr"] = "tuned-on", ["self_ipi_tpr_sti_nop"] = "tuned-on",
        ["self_ipi_tpr_sti_hlt"] = "tuned-on", ["x2apic_self_ipi_sti_hlt"] = "tuned-on", ["x2apic_self_ipi_tpr_sti_hlt"] = "tuned-on",
    };

    /// <summary>Rows that run the same exits through the same handlers (the model cannot, and should not, tell them apart).</summary>
    private static readonly string[][] SamePathGroups =
    [
        ["inl_from_qemu", "inl_from_pmtimer"],
        ["inl_from_kernel", "outl_to_kernel"],
        ["self_ipi_sti_nop", "self_ipi_tpr", "self_ipi_tpr_sti_nop"],
        ["x2apic_self_ipi_sti_hlt", "x2apic_self_ipi_tpr_sti_hlt"],
        ["self_ipi_sti_hlt", "self_ipi_tpr_sti_hlt"],
    ];

    /// <summary>
    /// The 2019 table against the default costs, with bounds taken from the table itself: how far two rows that measure
    /// the same path differ. inl_from_qemu and inl_from_pmtimer (both a port read that QEMU answers) differ by 0.43 point:
    /// a fitted row is held to that. The five one-exit interrupt rows (the ICR write, or HLT with the interrupt pending:
    /// one path measured five times) spread over 0.90 point: a same-path row is held to that. Tuned-on rows get no bound in
    /// points (their term was set after seeing them); the model must give every row of a same-path group the same change.
    /// No bound on the "before" cycles: the table gives none.
    /// </summary>
    [Test]
    public void WithDefaultCostsTheSuiteMatchesThePublishedTableAsFarAsItsOwnRepeatability()
    {
        var published = Suite.Published(VmexitTests);
        Assert.That(published.Keys, Is.EquivalentTo(RowRole.Keys));
        var fittedBound = 100 * Math.Abs(published["inl_from_qemu"].Change - published["inl_from_pmtimer"].Change);
        string[] oneExit = ["self_ipi_sti_nop", "self_ipi_tpr", "self_ipi_tpr_sti_nop", "x2apic_self_ipi_sti_hlt", "x2apic_self_ipi_tpr_sti_hlt"];
        var samePathBound = 100 * (oneExit.Max(t => published[t].Change) - oneExit.Min(t => published[t].Change));
        Assert.That(fittedBound, Is.EqualTo(0.43).Within(0.01), "qemu/pmtimer spread");
        Assert.That(samePathBound, Is.EqualTo(0.90).Within(0.01), "one-exit interrupt rows' spread");
        var tests = published.Keys.ToDictionary(n => n, n => Suite.Run(Test(n), Sim.Strategies, Sim.Names, 2_000, seed: 1, CostModel.Default(), published));
        Assert.Multiple(() =>
        {
            foreach (var (name, test) in tests)
            {
                var offBy = 100 * (test.Change - published[name].Change);
                switch (RowRole[name])
                {
                    case "fitted":
                        Assert.That(Math.Abs(offBy), Is.LessThanOrEqualTo(fittedBound), $"{name} (fitted): change off by {offBy:F2} points");
                        break;
                    case "same-path":
                        Assert.That(Math.Abs(offBy), Is.LessThanOrEqualTo(samePathBound), $"{name} (same path as an anchor): change off by {offBy:F2} points");
                        break;
                }
            }

            foreach (var group in SamePathGroups)
            {
                Assert.That(group.Select(n => Math.Round(tests[n].Change, 12)).Distinct().Count(), Is.EqualTo(1), string.Join(", ", group));
            }
        });
    }

    [Test]
    public void SuiteJsonCarriesBothSidesTheirPartsAndTheChange()
    {
        var tests = new[] { Run("cpuid"), Run("mov_dr") };
        using var json = JsonDocument.Parse(Report.SuiteToJson(Suite.Vmexit, tests, new CostModel(), 400, 1));
        var root = json.RootElement;
        Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo(Report.SuiteSchema));
        var cpuid = root.GetProperty("tests")[0];
        Assert.That(cpuid.GetProperty("name").GetString(), Is.EqualTo("cpuid"));
        var before = cpuid.GetProperty("before");
        var after = cpuid.GetProperty("after");
        Assert.That(before.GetProperty("strategy").GetString(), Is.EqualTo("kvm-2018"));
        Assert.That(before.GetProperty("cycles").GetDouble(),
            Is.EqualTo(before.GetProperty("fixedCycles").GetDouble() + before.GetProperty("countedCycles").GetDouble()).Within(1e-6));
        var delta = after.GetProperty("cycles").GetDouble() - before.GetProperty("cycles").GetDouble();
        Assert.That(cpuid.GetProperty("delta").GetDouble(), Is.EqualTo(delta).Within(1e-6));
        Assert.That(cpuid.GetProperty("changePercent").GetDouble(), Is.EqualTo(100 * delta / before.GetProperty("cycles").GetDouble()).Within(1e-9));
        Assert.That(root.GetProperty("tests")[1].GetProperty("roundTripsPerIteration").GetInt32(), Is.Zero);

        var csv = Report.SuiteToCsv(tests).Trim().Split('\n');
        Assert.That(csv[1].Split(',')[0], Is.EqualTo("cpuid"));
        Assert.That(double.Parse(csv[1].Split(',')[8], CultureInfo.InvariantCulture), Is.EqualTo(delta).Within(1e-3));
    }
}
