using System;

namespace VmcsGen;

/// <summary>The three outcomes the SDM defines for a VMX instruction (Vol. 3C, "Conventions").</summary>
public enum VmxOutcome : byte
{
    /// <summary>VMsucceed: CF, PF, AF, ZF, SF and OF cleared.</summary>
    Succeed = 0,

    /// <summary>VMfailInvalid: CF set; nothing stored (there is no current VMCS to store into).</summary>
    FailInvalid = 1,

    /// <summary>VMfailValid: ZF set; the error number goes to VM_INSTRUCTION_ERROR of the current VMCS.</summary>
    FailValid = 2,

    /// <summary>#UD: the instruction is invalid here (a VMX instruction outside VMX operation); nothing happened.</summary>
    InvalidOpcode = 3,

    /// <summary>
    /// VMLAUNCH/VMRESUME passed its VMfail checks but the VM entry failed on guest state (SDM 26.8): the caller gets a VM
    /// exit with reason 33 and bit 31 set (in the VMCS), host state loaded, and the guest did not run.
    /// </summary>
    EntryFailure = 4,
}

/// <summary>
/// The result of a VMX instruction as a value, never an exception: <see cref="Succeed"/>, <see cref="FailInvalid"/>
/// or <see cref="FailValid(VmxInstructionError)"/> with its error number.
/// </summary>
public readonly struct VmxResult : IEquatable<VmxResult>
{
    private VmxResult(VmxOutcome outcome, VmxInstructionError error)
    {
        Outcome = outcome;
        Error = error;
    }

    public static VmxResult Succeed => default;

    public static VmxResult FailInvalid => new(VmxOutcome.FailInvalid, VmxInstructionError.None);

    /// <summary>#UD, as L0 injects it into L1 for a VMX instruction outside VMX operation.</summary>
    public static VmxResult InvalidOpcode => new(VmxOutcome.InvalidOpcode, VmxInstructionError.None);

    /// <summary>A VM-entry failure exit (reason 33 | 0x80000000) instead of running the guest.</summary>
    public static VmxResult EntryFailure => new(VmxOutcome.EntryFailure, VmxInstructionError.None);

    public VmxOutcome Outcome { get; }

    /// <summary>The error number of a VMfailValid; <see cref="VmxInstructionError.None"/> otherwise.</summary>
    public VmxInstructionError Error { get; }

    public bool IsSuccess => Outcome == VmxOutcome.Succeed;

    public static VmxResult FailValid(VmxInstructionError error) => new(VmxOutcome.FailValid, error);

    /// <summary>This result if it is a failure, else <paramref name="next"/>: keeps the first failure of a sequence.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public VmxResult Then(VmxResult next) => IsSuccess ? next : this;

    public bool Equals(VmxResult other) => Outcome == other.Outcome && Error == other.Error;

    public override bool Equals(object? obj) => obj is VmxResult other && Equals(other);

    public override int GetHashCode() => ((int)Outcome << 8) | (int)Error;

    public override string ToString() => Outcome switch
    {
        VmxOutcome.Succeed => "VMsucceed",
        VmxOutcome.FailInvalid => "VMfailInvalid",
        VmxOutcome.InvalidOpcode => "#UD",
        VmxOutcome.EntryFailure => "VM-entry failure (exit reason 33)",
        _ => $"VMfailValid({(int)Error}: {Error})",
    };

    public static bool operator ==(VmxResult left, VmxResult right) => left.Equals(right);

    public static bool operator !=(VmxResult left, VmxResult right) => !left.Equals(right);
}
