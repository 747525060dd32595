namespace VmcsGen.Software;

/// <summary>What a VMX instruction did.</summary>
public enum InstructionOutcomeKind : byte
{
    /// <summary>VMsucceed.</summary>
    Succeed,

    /// <summary>VMfailInvalid (CF = 1).</summary>
    FailInvalid,

    /// <summary>VMfailValid(n) (ZF = 1), n stored in the VM-instruction error field of the current VMCS.</summary>
    FailValid,

    /// <summary>A fault: #UD, #GP(0) or #PF; the instruction had no effect.</summary>
    Exception,

    /// <summary>In VMX non-root operation, a VM exit to the VMM with the reason, qualification and instruction information.</summary>
    VmExit,

    /// <summary>VMLAUNCH/VMRESUME passed the VMfail checks but the guest state failed: a VM-entry failure exit (reason | 0x80000000).</summary>
    EntryFailure,
}
