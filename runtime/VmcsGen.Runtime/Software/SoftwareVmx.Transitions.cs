using System;

namespace VmcsGen.Software;

// SoftwareVmx's VM entries and VM exits: VMLAUNCH/VMRESUME with the VM-entry checks, and the exit information a VM exit records.
public sealed partial class SoftwareVmx
{
    /// <summary>VMLAUNCH: on success the processor is in VMX non-root operation on the current VMCS.</summary>
    public InstructionOutcome ExecuteVmlaunch(VmxContext context) => ExecuteEntry(context, launch: true);

    /// <summary>VMRESUME: as <see cref="ExecuteVmlaunch"/> for a launched VMCS.</summary>
    public InstructionOutcome ExecuteVmresume(VmxContext context) => ExecuteEntry(context, launch: false);

    /// <summary>
    /// The guest exits for a reason of its own (an external interrupt, CPUID…): the exit information goes into the
    /// working VMCS and the processor returns to VMX root operation.
    /// </summary>
    public void VmExit(uint reason, ulong qualification = 0)
    {
        if (Operation != VmxOperation.NonRoot || _current is null)
        {
            throw new InvalidOperationException("VmExit: no guest is running (VMX non-root operation starts at a successful VMLAUNCH/VMRESUME).");
        }

        RecordExit(reason, qualification, 0);
    }

    private InstructionOutcome ExecuteEntry(VmxContext context, bool launch)
    {
        if (Invalid(context))
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (Operation == VmxOperation.NonRoot)
        {
            return ExitFor(launch ? VmxExitReason.VmLaunch : VmxExitReason.VmResume, 0, 0);
        }

        if (context.Cpl > 0)
        {
            return InstructionOutcome.GeneralProtection;
        }

        var outcome = Enter(launch, context);
        if (outcome.Kind == InstructionOutcomeKind.Succeed)
        {
            Operation = VmxOperation.NonRoot;
        }

        return outcome;
    }

    /// <summary>The checks of VMLAUNCH/VMRESUME after #UD/#GP, in the SDM's order.</summary>
    private InstructionOutcome Enter(bool launch, VmxContext context)
    {
        _entries++;
        if (_current is null || _current.ShadowIndicator)
        {
            return InstructionOutcome.FailInvalid;
        }

        if (context.BlockingByMovSs)
        {
            return FailOutcome(VmxInstructionError.EntryEventsBlockedByMovSs);
        }

        if (launch && _current.Launched)
        {
            return FailOutcome(VmxInstructionError.VmlaunchNonClearVmcs);
        }

        if (!launch && !_current.Launched)
        {
            return FailOutcome(VmxInstructionError.VmresumeNonLaunchedVmcs);
        }

        if (Profile.EntryChecks)
        {
            var reader = new RegionReader(this, _current);
            var check = VmEntryChecks.Controls(ref reader, Profile);
            if (check.Passed)
            {
                check = VmEntryChecks.Host(ref reader, Profile, context.Mode is CpuMode.Long64 or CpuMode.Compatibility);
            }

            if (!check.Passed)
            {
                return FailOutcome(check.Error, check.Rule);
            }

            check = VmEntryChecks.Guest(ref reader, Profile, Memory);
            if (!check.Passed)
            {
                // SDM 26.8: a VM-entry failure is a VM exit with the entry-failure bit; the VMCS stays as it was (not launched).
                var reason = VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit;
                Store(_current, ExitReasonEncoding, reason);
                Store(_current, ExitQualificationEncoding, check.Qualification);
                return new InstructionOutcome(InstructionOutcomeKind.EntryFailure, ExitReason: reason, ExitQualification: check.Qualification,
                    Rule: check.Rule);
            }
        }

        if (launch)
        {
            _current.Launched = true;
        }

        return InstructionOutcome.Succeed();
    }

    /// <summary>A VM exit of the guest's instruction: exit information into the working VMCS, back to VMX root operation.</summary>
    private InstructionOutcome ExitFor(uint reason, ulong qualification, uint instructionInfo)
    {
        if (_current is not null && Operation == VmxOperation.NonRoot)
        {
            RecordExit(reason, qualification, instructionInfo);
        }

        return new InstructionOutcome(InstructionOutcomeKind.VmExit, ExitReason: reason, ExitQualification: qualification,
            InstructionInformation: instructionInfo);
    }

    private void RecordExit(uint reason, ulong qualification, uint instructionInfo)
    {
        Store(_current!, ExitReasonEncoding, reason);
        Store(_current!, ExitQualificationEncoding, qualification);
        Store(_current!, InstructionInfoEncoding, instructionInfo);
        Store(_current!, ExitInstructionLengthEncoding, 3);
        Operation = VmxOperation.Root;
    }

    private readonly struct RegionReader(SoftwareVmx cpu, Region region) : IVmcsFieldReader
    {
        public ulong Read(uint encoding) => cpu.Catalog.SlotOf(encoding) is var slot and >= 0 ? LoadSlot(region.Fields[slot], encoding) : 0;
    }
}
