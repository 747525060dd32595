namespace VmcsGen.Software;

/// <summary>The verdict of the VM-entry checks: pass, VMfailValid(7 or 8), or a VM-entry failure (reason 33, qualification).</summary>
public readonly record struct EntryCheckResult(InstructionOutcomeKind Kind, VmxInstructionError Error, ulong Qualification, string? Rule)
{
    public static EntryCheckResult Pass => new(InstructionOutcomeKind.Succeed, 0, 0, null);

    public bool Passed => Kind == InstructionOutcomeKind.Succeed;

    public static EntryCheckResult Control(string rule) => new(InstructionOutcomeKind.FailValid, VmxInstructionError.EntryInvalidControlField, 0, rule);

    public static EntryCheckResult Host(string rule) => new(InstructionOutcomeKind.FailValid, VmxInstructionError.EntryInvalidHostStateField, 0, rule);

    public static EntryCheckResult Guest(string rule, ulong qualification = 0) => new(InstructionOutcomeKind.EntryFailure, 0, qualification, rule);
}
