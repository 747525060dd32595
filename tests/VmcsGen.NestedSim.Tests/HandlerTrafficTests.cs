using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// L1's VMCS traffic per exit reason: every exit block of Workloads/vmexit/kvm-l1.handlers, access by access, against the
/// section of tests/Reference/kvm-l1-exit-accesses.tsv it was read from (KVM as L1, vmx.c/x86.c/lapic.c of about v6.17).
/// Each case names the section and the step numbers whose "only if" holds on the test's path, with the reason for every
/// step left out, and the accesses the block adds from the kernel function its comment names. A block that gains, loses
/// or reorders an access fails here, and so does a change of the reference rows.
/// </summary>
public sealed class HandlerTrafficTests
{
    private static readonly IReadOnlyDictionary<string, ExitSpec> Blocks = Suite.Load(Suite.Vmexit)
        .SelectMany(w => w.Exits)
        .GroupBy(e => e.Name, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    private static readonly IReadOnlyList<(string Section, int Step, string Op, string Field)> Rows =
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "kvm-l1-exit-accesses.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith("exit_reason\t", StringComparison.Ordinal))
            .Select(l => l.Split('\t'))
            .Select(c => (c[0], int.Parse(c[1], System.Globalization.CultureInfo.InvariantCulture), c[2], c[3]))
            .ToList();

    /// <summary>The tsv rows of <paramref name="section"/> with these step numbers, in the tsv's order, as "R FIELD"/"W FIELD".</summary>
    private static IEnumerable<string> Steps(string section, params int[] steps)
    {
        var rows = Rows.Where(r => r.Section == section).ToDictionary(r => r.Step);
        Assert.That(rows, Is.Not.Empty, $"no section {section} in kvm-l1-exit-accesses.tsv");
        return steps.Select(s => (rows[s].Op == "VMREAD" ? "R " : "W ") + rows[s].Field);
    }

    private static List<string> Handler(string block) =>
        Blocks[block].Steps
            .Where(s => s.Kind is StepKind.Read or StepKind.Write)
            .Select(s => (s.Kind == StepKind.Read ? "R " : "W ") + s.Field)
            .ToList();

    private static IEnumerable<TestCaseData> Cases()
    {
        // Left out on every path below, because the suite's L2 (kvm-unit-tests, 64-bit, no LAPIC timer armed) never meets the
        // condition: the interrupt-shadow clear (no STI/MOV-SS blocking before the exiting instruction), the RVI write (no
        // interrupt posted since the last entry) and the hv-timer write (ALL#44).
        yield return new TestCaseData("CPUID", Steps("CPUID", 1, 2, 3, 5, 6, 7, 8, 10, 12))
            .SetName("CPUID is tsv CPUID without the CPL check (CPUID faulting off)");
        yield return new TestCaseData("VMCALL", Steps("VMCALL", 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13))
            .SetName("VMCALL is tsv VMCALL (64-bit L2: the CS AR read for is_64_bit_hypercall)");
        yield return new TestCaseData("IO_IN_KERNEL", Steps("IO_INSTRUCTION:in-kernel", 1, 2, 3, 4, 5, 6, 7, 8, 10, 12))
            .SetName("IO_IN_KERNEL is tsv IO_INSTRUCTION in-kernel");
        yield return new TestCaseData("IO_USERSPACE", Steps("IO_INSTRUCTION:userspace", 1, 2, 3, 4, 5, 7, 8, 10, 11, 13, 15))
            .SetName("IO_USERSPACE is tsv IO_INSTRUCTION userspace without CS base (64-bit L2) and the PIC check (in-kernel irqchip)");
        yield return new TestCaseData("HLT_EVENT_PENDING",
                Steps("HLT:event-pending", 1, 2).Concat(Steps("ALL", 9)).Concat(Steps("HLT:event-pending", 3, 4, 5, 6, 7, 8, 9, 11, 12)))
            .SetName("HLT_EVENT_PENDING is tsv HLT event-pending in the slow path (ALL 9 first), the STI shadow cleared and RVI already set");
        yield return new TestCaseData("MSR_WRITE", Steps("MSR_WRITE:slowpath", 1, 2, 3, 4, 5, 6, 7, 9, 11))
            .SetName("MSR_WRITE is tsv MSR_WRITE slowpath");
        yield return new TestCaseData("MSR_WRITE_TSC_DEADLINE", Steps("MSR_WRITE:tsc-deadline-fastpath", 1, 2, 3, 4, 5, 6, 8, 9, 10, 11))
            .SetName("MSR_WRITE_TSC_DEADLINE is tsv tsc-deadline fastpath with a passed deadline (RVI written)");
        yield return new TestCaseData("MSR_WRITE_X2APIC_ICR", Steps("MSR_WRITE:x2apic-icr-fastpath", 1, 2, 3, 4, 5, 6, 8, 10))
            .SetName("MSR_WRITE_X2APIC_ICR is tsv x2apic-icr fastpath to another vCPU (no RVI write)");

        // Blocks that reuse a section and add what the kernel function their comment names does.
        yield return new TestCaseData("WBINVD", Steps("CPUID", 1, 2, 3, 5, 6, 7, 8, 10, 12))
            .SetName("WBINVD is CPUID's skip (handle_wbinvd, kvm_emulate_wbinvd: nothing to flush)");
        yield return new TestCaseData("MSR_READ", Steps("MSR_WRITE:slowpath", 1, 2, 3, 4, 5, 6, 7, 9, 11))
            .SetName("MSR_READ is the slowpath skip (kvm_emulate_rdmsr, kvm_complete_insn_gp)");
        yield return new TestCaseData("MSR_WRITE_TSC_ADJUST",
                Steps("MSR_WRITE:slowpath", 1, 2, 3).Append("W TSC_OFFSET").Concat(Steps("MSR_WRITE:slowpath", 4, 5, 6, 7, 9, 11)))
            .SetName("MSR_WRITE_TSC_ADJUST adds vmx_write_tsc_offset's TSC_OFFSET write before the skip (handle_wrmsr)");
        yield return new TestCaseData("MSR_WRITE_X2APIC_SELF_IPI", Steps("MSR_WRITE:slowpath", 1, 2, 3, 4, 5, 6, 7, 9, 10, 11))
            .SetName("MSR_WRITE_X2APIC_SELF_IPI is tsv MSR_WRITE slowpath with the RVI write (the IPI targets the vCPU itself)");
        yield return new TestCaseData("MMIO_FAST_EVENTFD",
                Steps("CPUID", 1, 2, 3).Append("R GUEST_PHYSICAL_ADDRESS").Concat(Steps("CPUID", 5, 6, 7, 8, 10, 12)))
            .SetName("MMIO_FAST_EVENTFD is v4.15 handle_ept_misconfig's GPA read, then CPUID's skip");
        yield return new TestCaseData("MMIO_EMULATE_EVENTFD", Steps("EPT_VIOLATION:mmio-emulate", 1, 2, 3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 17))
            .SetName("MMIO_EMULATE_EVENTFD is tsv mmio-emulate without exit qualification, CR4 and CR0 (v4.15 misconfig path)");
        yield return new TestCaseData("INVD", Steps("EPT_VIOLATION:mmio-emulate", 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17))
            .SetName("INVD is the emulator's fetch and write-back of tsv mmio-emulate, without the EPT violation's reads");
    }

    [TestCaseSource(nameof(Cases))]
    public void TheHandlerBlockIsItsReferenceSectionOnTheTestsPath(string block, IEnumerable<string> expected) =>
        Assert.That(Handler(block), Is.EqualTo(expected.ToList()));

    [Test]
    public void EveryHandlerBlockIsPinned()
    {
        var pinned = Cases().Select(c => (string)c.Arguments[0]!).ToHashSet(StringComparer.Ordinal);
        Assert.That(Blocks.Keys.Where(b => !pinned.Contains(b)), Is.Empty, "a handler block without a case here");
    }

    [Test]
    public void CountsPerExitAreTheReferenceNotesTypicalCounts()
    {
        // KVM-L1-ACCESSES.md §5 (the tsv's summary): CPUID 8 VMREADs, IO in-kernel 9, IO userspace 10, VMCALL 10,
        // MSR_WRITE slowpath 8, the MSR fastpaths 7, HLT event-pending 9 (fastpath). The writes are the RIP write on every path that
        // skips an instruction; the notes' higher typical write counts include the hv-timer write of an L2 with its
        // LAPIC timer armed, which the suite's L2 has not.
        (int, int) Count(string block) => (Handler(block).Count(a => a[0] == 'R'), Handler(block).Count(a => a[0] == 'W'));
        Assert.That(Count("CPUID"), Is.EqualTo((8, 1)));
        Assert.That(Count("IO_IN_KERNEL"), Is.EqualTo((9, 1)));
        Assert.That(Count("IO_USERSPACE"), Is.EqualTo((10, 1)));
        Assert.That(Count("VMCALL"), Is.EqualTo((10, 1)));
        Assert.That(Count("MSR_WRITE"), Is.EqualTo((8, 1)));
        Assert.That(Count("MSR_WRITE_X2APIC_ICR"), Is.EqualTo((7, 1)));
        Assert.That(Count("HLT_EVENT_PENDING"), Is.EqualTo((10, 2)), "the notes' 9 of the fastpath, plus the slow path's PML read");
    }

    /// <summary>
    /// Why the model gives every test of the 2019 table the same saving per round trip: on each of their paths L1 reads
    /// only fields that kvm-2018.vmcs and kvm.vmcs both shadow, and writes only fields both shadow read-write. So none of
    /// the series' path-dependent changes is reached: no trapped VMREAD of a rare field (the on-demand rare sync,
    /// "Sync rarely accessed guest fields only when needed"), no trapped VMWRITE (dirty vmcs12, prepare_vmcs02_rare), no
    /// control written (the control shadows of "Reduce VMWRITEs to VMCS controls"). A handler that starts touching such a
    /// field fails here first, and then the equal savings below stop holding.
    /// </summary>
    [Test]
    public void The2019TablesPathsTouchOnlyFieldsBothEndsOfTheSeriesShadow()
    {
        var table = Suite.Published(Suite.Load(Suite.Vmexit).Select(w => w.Name).ToList()).Keys.ToHashSet(StringComparer.Ordinal);
        var workloads = Suite.Load(Suite.Vmexit).Where(w => table.Contains(w.Name)).ToList();
        Assert.That(workloads, Has.Count.EqualTo(13));
        foreach (var manifest in new[] { "kvm-2018.vmcs", "kvm.vmcs" })
        {
            var classes = Sim.Layouts.Single(l => l.ManifestFile == manifest).Fields.ToDictionary(f => f.Name, f => f.Class, StringComparer.Ordinal);
            foreach (var step in workloads.SelectMany(w => w.Exits).SelectMany(e => e.Steps))
            {
                if (step.Kind == StepKind.Read)
                {
                    Assert.That(classes[step.Field], Is.EqualTo(FieldClass.ShadowRw).Or.EqualTo(FieldClass.ShadowRo), $"{manifest}: L1 reads {step.Field}");
                }
                else if (step.Kind == StepKind.Write)
                {
                    Assert.That(classes[step.Field], Is.EqualTo(FieldClass.ShadowRw), $"{manifest}: L1 writes {step.Field}");
                }
            }
        }

        double SavingPerRoundTrip(Workload w)
        {
            var trace = Simulator.Trace(w, Sim.Names, 200, seed: 1);
            var before = Simulator.Run(Sim.Named("kvm-2018"), w, Sim.Names, trace, CostModel.Default());
            var after = Simulator.Run(Sim.Named("kvm"), w, Sim.Names, trace, CostModel.Default());
            return after.CyclesPerRound - before.CyclesPerRound;
        }

        var savings = workloads.Select(SavingPerRoundTrip).ToList();
        Assert.That(savings.Max() - savings.Min(), Is.LessThan(1e-6), "the model's saving per round trip, kvm-2018 → kvm");
    }
}
