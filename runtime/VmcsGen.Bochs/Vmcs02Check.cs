using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>One vmcs02 to load: its fields as the simulator left them after a nested entry, and a label ("VMLAUNCH", "VMRESUME 3"…).</summary>
public sealed record Vmcs02Entry(string Label, IReadOnlyList<(uint Encoding, ulong Value)> Fields);

/// <summary>How one vmcs02 fared on Bochs and on SoftwareVmx configured as Bochs' CPU.</summary>
/// <param name="Entry">The vmcs02.</param>
/// <param name="Bochs">VMLAUNCH on Bochs: a VM exit (the entry passed every check Bochs makes and L2 ran until its first exit), a VMfail or a VM-entry
/// failure.</param>
/// <param name="GuestRip">L2's RIP at the VM exit.</param>
/// <param name="Software">VMLAUNCH of the same fields on SoftwareVmx (VMsucceed: its entry checks pass).</param>
/// <param name="Refused">Fields Bochs has not (VMWRITE refused); left out on both sides.</param>
/// <param name="Disagreement">Why the two disagree, or null.</param>
public sealed record Vmcs02Result(Vmcs02Entry Entry, InstructionOutcome Bochs, ulong GuestRip, InstructionOutcome Software, IReadOnlyList<uint> Refused,
    string? Disagreement)
{
    /// <summary>Bochs entered L2 (no VMfail, no VM-entry failure) and L2 ran to a VM exit.</summary>
    public bool Accepted => Bochs.Kind == InstructionOutcomeKind.VmExit;
}

/// <summary>
/// Issue 21 item 4b: vmcs02 is a VMCS a CPU accepts. Each vmcs02 is loaded field by field into a fresh Bochs VMCS by the
/// 64-bit runner (L0), whose own host state replaces vmcs02's host-state fields (the host of vmcs02 is L0), with a HLT sled
/// at <see cref="Stub"/> for L2, and VMLAUNCHed. The same fields go into SoftwareVmx configured as Bochs' CPU (its MSRs,
/// entry checks on). They agree when both accept (Bochs then runs L2 to its first VM exit), or both VMfail with the same
/// error, or both fail the guest-state checks with the same exit reason and qualification.
/// </summary>
public static class Vmcs02Check
{
    /// <summary>L2's code: HLT instructions (with "HLT exiting" each is a VM exit, reason 12, wherever L1 moved RIP to).</summary>
    public const ulong Stub = VmcsImage.GuestCode, StubEnd = VmcsImage.GuestCode + 0x1000;

    /// <summary>L2's stack top.</summary>
    public const ulong Stack = VmcsImage.GuestStack;

    public static IReadOnlyList<Vmcs02Result> Run(BochsRunner runner, VmxProfile profile, IReadOnlyList<Vmcs02Entry> entries, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(entries);
        const GuestMode mode = GuestMode.Long64;
        var host = VmcsImage.Host(mode);
        var sled = Enumerable.Repeat((byte)0xF4, (int)(StubEnd - Stub)).ToArray();
        var programs = new List<GuestProgram>();
        var plans = new List<(List<(uint Encoding, int Step)> Writes, int Launch)>();
        foreach (var entry in entries)
        {
            var steps = VmcsImage.Enter(profile.Revision);
            steps.Add(new MemoryBytes(Stub, sled));
            var writes = new List<(uint, int)>();
            foreach (var (encoding, value) in Loaded(entry, host))
            {
                writes.Add((encoding, steps.Count));
                steps.Add(VmcsImage.Vmwrite(encoding, value));
            }

            plans.Add((writes, steps.Count));
            steps.Add(new VmxInstruction(VmxOpcode.Vmlaunch));
            programs.Add(new GuestProgram(mode, steps));
        }

        var batch = runner.Run(programs, progress);
        var results = new List<Vmcs02Result>();
        for (var i = 0; i < entries.Count; i++)
        {
            var records = batch.Programs[i].ToDictionary(r => r.Step);
            var refused = plans[i].Writes.Where(w => records[w.Step].Outcome.Kind != InstructionOutcomeKind.Succeed).Select(w => w.Encoding).ToHashSet();
            var launch = records[plans[i].Launch];

            var cpu = new SoftwareVmx(profile);
            cpu.CreateRegion(VmcsImage.Vmcs);
            cpu.VmPtrLd(VmcsImage.Vmcs);
            foreach (var (encoding, value) in Loaded(entries[i], host).Where(f => !refused.Contains(f.Encoding)))
            {
                cpu.VmWrite(encoding, value);
            }

            var software = cpu.ExecuteVmlaunch(VmxContext.Long64);
            results.Add(new Vmcs02Result(entries[i], launch.Outcome, launch.Value, software, refused.Order().ToList(), Compare(launch.Outcome, software)));
        }

        return results;
    }

    /// <summary>vmcs02's fields but its host state, then the runner's host state (VM exits return to the runner).</summary>
    private static IEnumerable<(uint Encoding, ulong Value)> Loaded(Vmcs02Entry entry, IReadOnlyDictionary<uint, ulong> host) =>
        entry.Fields.Where(f => VmcsEncoding.Type(f.Encoding) != FieldType.HostState).Concat(host.Select(p => (p.Key, p.Value)));

    private static string? Compare(InstructionOutcome bochs, InstructionOutcome software)
    {
        var says = software.Kind switch
        {
            InstructionOutcomeKind.Succeed => "SoftwareVmx enters L2",
            _ => $"SoftwareVmx: {VmcsImage.Describe(software)}{(software.Rule is { } r ? $" ({r})" : "")}",
        };
        return (bochs.Kind, software.Kind) switch
        {
            (InstructionOutcomeKind.VmExit, InstructionOutcomeKind.Succeed) => null,
            (InstructionOutcomeKind.FailValid, InstructionOutcomeKind.FailValid) when bochs.Error == software.Error => null,
            (InstructionOutcomeKind.FailInvalid, InstructionOutcomeKind.FailInvalid) => null,
            (InstructionOutcomeKind.EntryFailure, InstructionOutcomeKind.EntryFailure)
                when (bochs.ExitReason & 0xFFFF) == (software.ExitReason & 0xFFFF) && bochs.ExitQualification == software.ExitQualification => null,
            _ => $"Bochs: {VmcsImage.Describe(bochs)}; {says}",
        };
    }
}

/// <summary>A complete, valid L2 state for <see cref="Vmcs02Check"/>, for a CPU with the given capabilities.</summary>
public static class ValidL2State
{
    /// <summary>
    /// What L1 writes into vmcs12 after a workload's setup so that vmcs12 is a guest state a CPU runs (the shipped workloads
    /// hold KVM-like values: a kernel RIP and CR3, controls naming EPT, MSR bitmaps and APIC pages whose addresses they never
    /// set): a 64-bit guest mirroring the runner's environment (<see cref="VmcsImage.MirrorGuest64"/>) at
    /// <see cref="Vmcs02Check.Stub"/>; the controls the CPU requires plus external-interrupt exiting, HLT exiting, IA-32e
    /// mode guest and a 64-bit host; every exception a VM exit.
    /// </summary>
    public static IReadOnlyList<(uint Encoding, ulong Value)> For(VmxCapabilities caps)
    {
        ArgumentNullException.ThrowIfNull(caps);
        var fields = new List<(uint, ulong)>
        {
            (VmcsImage.PinControls, caps.MustBeOne(VmxControl.PinBased) | 1u), // external-interrupt exiting
            (VmcsImage.PrimaryControls, caps.MustBeOne(VmxControl.PrimaryProcessorBased) | (1u << 7)), // HLT exiting
            (VmcsImage.SecondaryControls, 0),
            (VmcsImage.ExitControls, caps.MustBeOne(VmxControl.VmExit) | (1u << 9)),
            (VmcsImage.EntryControls, caps.MustBeOne(VmxControl.VmEntry) | (1u << 9)),
            (VmcsImage.ExceptionBitmap, 0xFFFF_FFFF),
            (0x4016, 0), // VM-entry interruption information: no event
        };
        fields.AddRange(VmcsImage.MirrorGuest64(Vmcs02Check.Stub, Vmcs02Check.Stack).Select(p => (p.Key, p.Value)));
        return fields;
    }
}
