namespace VmcsGen;

/// <summary>
/// VM-instruction error numbers (SDM Vol. 3C §31.4), stored in VM_INSTRUCTION_ERROR (0x4400) by a VMfailValid.
/// Source: tests/Reference/vmx-errors.tsv (KVM's enum vm_instruction_error_number). 14, 21 and 27 are reserved.
/// </summary>
public enum VmxInstructionError : uint
{
    None = 0,
    VmcallInVmxRootOperation = 1,
    VmclearInvalidAddress = 2,
    VmclearVmxonPointer = 3,
    VmlaunchNonClearVmcs = 4,
    VmresumeNonLaunchedVmcs = 5,
    VmresumeAfterVmxoff = 6,
    EntryInvalidControlField = 7,
    EntryInvalidHostStateField = 8,
    VmptrldInvalidAddress = 9,
    VmptrldVmxonPointer = 10,
    VmptrldIncorrectVmcsRevisionId = 11,
    UnsupportedVmcsComponent = 12,
    VmwriteReadOnlyVmcsComponent = 13,
    VmxonInVmxRootOperation = 15,
    EntryInvalidExecutiveVmcsPointer = 16,
    EntryNonLaunchedExecutiveVmcs = 17,
    EntryExecutiveVmcsPointerNotVmxonPointer = 18,
    VmcallNonClearVmcs = 19,
    VmcallInvalidVmExitControlFields = 20,
    VmcallIncorrectMsegRevisionId = 22,
    VmxoffUnderDualMonitorTreatmentOfSmisAndSmm = 23,
    VmcallInvalidSmmMonitorFeatures = 24,
    EntryInvalidVmExecutionControlFieldsInExecutiveVmcs = 25,
    EntryEventsBlockedByMovSs = 26,
    InvalidOperandToInveptInvvpid = 28,
}
