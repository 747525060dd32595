using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>One recorded step's result: the outcome as <see cref="SoftwareVmx"/> reports it, with what Bochs returned raw.</summary>
public sealed record InstructionRecord(int Program, int Step, InstructionOutcome Outcome, ulong Rflags, ulong Value, ulong Auxiliary)
{
    /// <summary>
    /// The error number of a VMfailValid in an L1 guest: the SDM stores it in the working VMCS, which the guest cannot read
    /// (its VMREAD goes to the shadow VMCS or exits), so only the outcome's kind is known.
    /// </summary>
    public const uint ErrorNotReadable = 0xFFFF_FFFF;

    /// <summary>For CPUID: EDX:ECX; after VMfailValid: the VM-instruction error field.</summary>
    public ulong Error => Auxiliary;
}
