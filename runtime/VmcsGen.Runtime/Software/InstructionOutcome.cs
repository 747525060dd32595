namespace VmcsGen.Software;

/// <summary>
/// The outcome of a VMX instruction as a value (never a thrown exception for the guest): VMsucceed, VMfailInvalid,
/// VMfailValid(n), an exception (vector and error code), a VM exit (basic reason, qualification, instruction information)
/// or a VM-entry failure, plus the value a VMREAD or VMPTRST produced.
/// </summary>
public readonly record struct InstructionOutcome(
    InstructionOutcomeKind Kind, VmxInstructionError Error = 0, byte Vector = 0, uint ErrorCode = 0, uint ExitReason = 0,
    ulong ExitQualification = 0, uint InstructionInformation = 0, ulong Value = 0, string? Rule = null)
{
    public const byte UD = 6, GP = 13, PF = 14;

    public static InstructionOutcome Succeed(ulong value = 0) => new(InstructionOutcomeKind.Succeed, Value: value);

    public static InstructionOutcome FailInvalid => new(InstructionOutcomeKind.FailInvalid);

    public static InstructionOutcome FailValid(VmxInstructionError error, string? rule = null) => new(InstructionOutcomeKind.FailValid, error, Rule: rule);

    public static InstructionOutcome InvalidOpcode => new(InstructionOutcomeKind.Exception, Vector: UD);

    public static InstructionOutcome GeneralProtection => new(InstructionOutcomeKind.Exception, Vector: GP);

    public static InstructionOutcome PageFault(uint errorCode) => new(InstructionOutcomeKind.Exception, Vector: PF, ErrorCode: errorCode);

    public bool IsSuccess => Kind == InstructionOutcomeKind.Succeed;

    /// <summary>The VMX result (succeed/fail) when the instruction completed; null for an exception, a VM exit or an entry failure.</summary>
    public VmxResult? Result => Kind switch
    {
        InstructionOutcomeKind.Succeed => VmxResult.Succeed,
        InstructionOutcomeKind.FailInvalid => VmxResult.FailInvalid,
        InstructionOutcomeKind.FailValid => VmxResult.FailValid(Error),
        _ => null,
    };

    public override string ToString() => Kind switch
    {
        InstructionOutcomeKind.Succeed => "VMsucceed",
        InstructionOutcomeKind.FailInvalid => "VMfailInvalid",
        InstructionOutcomeKind.FailValid => $"VMfailValid({(int)Error})" + (Rule is null ? "" : $": {Rule}"),
        InstructionOutcomeKind.Exception => Vector switch { UD => "#UD", GP => "#GP(0)", _ => $"#PF(0x{ErrorCode:X})" },
        InstructionOutcomeKind.VmExit => $"VM exit {ExitReason} (qualification 0x{ExitQualification:X}, instruction information 0x{InstructionInformation:X8})",
        _ => $"VM-entry failure, exit reason 0x{ExitReason:X8}, qualification {ExitQualification}" + (Rule is null ? "" : $": {Rule}"),
    };
}
