using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>A documented way Bochs 2.7 departs from the SDM, and how to recognise a disagreement it explains.</summary>
public sealed record BochsDeviation(string Id, string Title, string SdmSection, string BochsSource, Func<DeviationCase, bool> Matches);

/// <summary>A disagreement to explain: the program, the step, both outcomes and the profile SoftwareVmx ran with.</summary>
public sealed record DeviationCase(GuestProgram Program, int Step, InstructionOutcome Bochs, InstructionOutcome Software, VmxProfile Profile);

/// <summary>
/// Bochs 2.7's deviations from the SDM that the differential run found (docs/RUNTIME.md, "Bochs"). Each has a pinning test
/// in tests/VmcsGen.Bochs.Tests. SoftwareVmx follows the SDM; a disagreement one of these explains is not a divergence.
/// </summary>
public static class BochsDeviations
{
    /// <summary>VMLAUNCH/VMRESUME with a shadow VMCS as the current VMCS.</summary>
    public const string ShadowVmcsEntry = "BOCHS-1";

    /// <summary>An MSR-store/load count of 2^28 or more: Bochs computes the area's last byte in 32 bits.</summary>
    public const string MsrAreaOverflow = "BOCHS-2";

    public static IReadOnlyList<BochsDeviation> All { get; } =
    [
        new(ShadowVmcsEntry,
            "VMLAUNCH/VMRESUME with a shadow VMCS (shadow-VMCS indicator 1) as the current VMCS go on to the launch-state and control checks instead of " +
                "VMfailInvalid",
            "SDM Vol. 3C 26.1 (basic VM-entry checks, item 4; 24.10)",
            "bochs/cpu/vmx.cc BX_CPU_C::VMLAUNCH (REL_2_7_FINAL line 2999: only vmcsptr == BX_INVALID_VMCSPTR is VMfailInvalid; the indicator is never read)",
            c => c.Program.Steps[c.Step] is VmxInstruction { Opcode: VmxOpcode.Vmlaunch or VmxOpcode.Vmresume, Cpl: 0 }
                && c.Software.Kind == InstructionOutcomeKind.FailInvalid
                && c.Bochs.Kind is InstructionOutcomeKind.FailValid or InstructionOutcomeKind.EntryFailure
                && CurrentIsShadow(c)),
        new(MsrAreaOverflow,
            "a VM-exit MSR-store, VM-exit MSR-load or VM-entry MSR-load count of 2^28 or more fails the control checks (VMfailValid 7): the last byte, " +
                "address + count * 16 - 1, is computed in 32 bits and wraps",
            "SDM Vol. 3C 26.2.1.2 and 26.2.1.3 (the last byte of each MSR area within the physical-address width; the count is 32 bits)",
            "bochs/cpu/vmx.cc BX_CPU_C::VMenterLoadCheckVmControls (REL_2_7_FINAL lines 880, 894, 935: Bit32u count * 16)",
            c => c.Program.Steps[c.Step] is VmxInstruction { Opcode: VmxOpcode.Vmlaunch or VmxOpcode.Vmresume, Cpl: 0 }
                && c.Bochs is { Kind: InstructionOutcomeKind.FailValid, Error: VmxInstructionError.EntryInvalidControlField }
                && c.Software is not { Kind: InstructionOutcomeKind.FailValid, Error: VmxInstructionError.EntryInvalidControlField }
                && HasWrappingMsrCount(c)),
    ];

    /// <summary>Whether the current VMCS before the step has an MSR-area count whose count * 16 does not fit 32 bits.</summary>
    private static bool HasWrappingMsrCount(DeviationCase c)
    {
        var prefix = c.Program with { Steps = c.Program.Steps.Take(c.Step).ToList() };
        var cpu = SoftwareRun.Processor(prefix, c.Profile, out _);
        return cpu.CurrentPointer != SoftwareVmx.InvalidPointer
            && new uint[] { 0x400E, 0x4010, 0x4014 }.Any(e => cpu.Catalog.Supports(e) && cpu.Peek(cpu.CurrentPointer, e) >= 0x1000_0000);
    }

    /// <summary>Replays the program on SoftwareVmx up to the step and says whether its current VMCS is a shadow VMCS there.</summary>
    private static bool CurrentIsShadow(DeviationCase c)
    {
        var prefix = c.Program with { Steps = c.Program.Steps.Take(c.Step).ToList() };
        var cpu = SoftwareRun.Processor(prefix, c.Profile, out _);
        return cpu.CurrentPointer != SoftwareVmx.InvalidPointer && (cpu.Memory.ReadUInt32(cpu.CurrentPointer) & 0x8000_0000) != 0;
    }

    /// <summary>The deviation that explains a disagreement, or null.</summary>
    public static BochsDeviation? Explain(DeviationCase disagreement) => All.FirstOrDefault(d => d.Matches(disagreement));
}
