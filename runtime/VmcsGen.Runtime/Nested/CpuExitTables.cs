// One source of the CPU's side of a nested round trip: compiled into the runtime (public, namespace VmcsGen.Nested), where
// the harnesses draw L2's changes from it, and, as a linked file, into the generator (internal, namespace VmcsGen.Generator),
// where VMCS0126 reads it, as VmcsEncoding.cs is shared.
using System;
using System.Collections.Generic;
using System.Linq;

#if VMCSGEN_GENERATOR
namespace VmcsGen.Generator;
#else
namespace VmcsGen.Nested;
#endif

/// <summary>
/// When the CPU saves a field on a VM exit, as the SDM words it: always, or only when a VM-exit control of the VMCS
/// that exits is 1 (Intel SDM Vol. 3C, "Definitions of VM-Exit Controls": bit 2 save debug controls, bit 18 save
/// IA32_PAT, bit 20 save IA32_EFER, bit 22 save VMX-preemption timer value, bit 30 save IA32_PERF_GLOBAL_CTRL).
/// </summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
enum ExitSaveCondition
{
    /// <summary>Saved on every VM exit (or written by the CPU while the guest runs) where the processor has the field.</summary>
    Always,

    /// <summary>VM-exit control bit 2, "save debug controls": DR7 and IA32_DEBUGCTL.</summary>
    SaveDebugControls,

    /// <summary>VM-exit control bit 18, "save IA32_PAT".</summary>
    SaveIa32Pat,

    /// <summary>VM-exit control bit 20, "save IA32_EFER".</summary>
    SaveIa32Efer,

    /// <summary>VM-exit control bit 22, "save VMX-preemption timer value".</summary>
    SavePreemptionTimer,

    /// <summary>VM-exit control bit 30, "save IA32_PERF_GLOBAL_CTRL".</summary>
    SavePerfGlobalCtrl,
}

/// <summary>One field the CPU may change while L2 runs or writes on a VM exit, with the SDM's condition and section.</summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
readonly record struct CpuWrittenField(uint Encoding, string Name, ExitSaveCondition Condition, string Sdm);

/// <summary>
/// The CPU's side of a nested round trip, from the SDM and independent of any manifest: every guest-state field a VM exit
/// saves (Vol. 3C §27.3 "Saving Guest State" in the 2016–2022 editions, §28.3 later: control and debug registers and MSRs
/// 27.3.1, segment and descriptor-table registers 27.3.2, RIP/RSP/RFLAGS/SSP 27.3.3, non-register state 27.3.4) and every
/// exit-information field a VM exit writes (§27.2 "Recording VM-Exit Information"), each with the VM-exit control that
/// gates it. A VMCS field is in vmcs02 what the CPU left there; L0 owes L1 a vmcs12 that holds what a real CPU would
/// have saved into it. Not listed, because no VM exit writes them: VMCS_LINK_POINTER (guest state by encoding, never
/// saved), VM_INSTRUCTION_ERROR (written by a failing VMX instruction, not by an exit), every control and host-state
/// field. Also not modelled: the "IA-32e mode guest" entry control, which an exit updates from IA32_EFER.LMA (a control
/// field; the engine never copies controls back).
/// </summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
static class CpuExitWrites
{
    /// <summary>VM_EXIT_CONTROLS: the conditions are read from vmcs12's (L1 asks what its CPU would do).</summary>
    public const uint VmExitControls = 0x400C;

    private static readonly CpuWrittenField[] Table =
    [
        // 27.3.1: control registers, debug registers, MSRs.
        new(0x6800, "GUEST_CR0", ExitSaveCondition.Always, "27.3.1"),
        new(0x6802, "GUEST_CR3", ExitSaveCondition.Always, "27.3.1"),
        new(0x6804, "GUEST_CR4", ExitSaveCondition.Always, "27.3.1"),
        new(0x681A, "GUEST_DR7", ExitSaveCondition.SaveDebugControls, "27.3.1"),
        new(0x2802, "GUEST_IA32_DEBUGCTL", ExitSaveCondition.SaveDebugControls, "27.3.1"),
        new(0x482A, "GUEST_SYSENTER_CS", ExitSaveCondition.Always, "27.3.1"),
        new(0x6824, "GUEST_SYSENTER_ESP", ExitSaveCondition.Always, "27.3.1"),
        new(0x6826, "GUEST_SYSENTER_EIP", ExitSaveCondition.Always, "27.3.1"),
        new(0x2804, "GUEST_IA32_PAT", ExitSaveCondition.SaveIa32Pat, "27.3.1"),
        new(0x2806, "GUEST_IA32_EFER", ExitSaveCondition.SaveIa32Efer, "27.3.1"),
        new(0x2808, "GUEST_IA32_PERF_GLOBAL_CTRL", ExitSaveCondition.SavePerfGlobalCtrl, "27.3.1"),
        new(0x2812, "GUEST_BNDCFGS", ExitSaveCondition.Always, "27.3.1 (where the CPU has \"load IA32_BNDCFGS\" or \"clear IA32_BNDCFGS\")"),
        new(0x2814, "GUEST_IA32_RTIT_CTL", ExitSaveCondition.Always, "27.3.1 (where the CPU has \"load/clear IA32_RTIT_CTL\")"),
        new(0x6828, "GUEST_S_CET", ExitSaveCondition.Always, "27.3.1 (where the CPU has \"load CET state\")"),
        new(0x682C, "GUEST_INTR_SSP_TABLE", ExitSaveCondition.Always, "27.3.1 (where the CPU has \"load CET state\")"),

        // 27.3.2: segment and descriptor-table registers.
        .. Segment("ES", 0x0800, 0x4800, 0x4814, 0x6806),
        .. Segment("CS", 0x0802, 0x4802, 0x4816, 0x6808),
        .. Segment("SS", 0x0804, 0x4804, 0x4818, 0x680A),
        .. Segment("DS", 0x0806, 0x4806, 0x481A, 0x680C),
        .. Segment("FS", 0x0808, 0x4808, 0x481C, 0x680E),
        .. Segment("GS", 0x080A, 0x480A, 0x481E, 0x6810),
        .. Segment("LDTR", 0x080C, 0x480C, 0x4820, 0x6812),
        .. Segment("TR", 0x080E, 0x480E, 0x4822, 0x6814),
        new(0x6816, "GUEST_GDTR_BASE", ExitSaveCondition.Always, "27.3.2"),
        new(0x4810, "GUEST_GDTR_LIMIT", ExitSaveCondition.Always, "27.3.2"),
        new(0x6818, "GUEST_IDTR_BASE", ExitSaveCondition.Always, "27.3.2"),
        new(0x4812, "GUEST_IDTR_LIMIT", ExitSaveCondition.Always, "27.3.2"),

        // 27.3.3: RIP, RSP, RFLAGS, SSP.
        new(0x681C, "GUEST_RSP", ExitSaveCondition.Always, "27.3.3"),
        new(0x681E, "GUEST_RIP", ExitSaveCondition.Always, "27.3.3"),
        new(0x6820, "GUEST_RFLAGS", ExitSaveCondition.Always, "27.3.3"),
        new(0x682A, "GUEST_SSP", ExitSaveCondition.Always, "27.3.3 (where the CPU has \"load CET state\")"),

        // 27.3.4: non-register state.
        new(0x4826, "GUEST_ACTIVITY_STATE", ExitSaveCondition.Always, "27.3.4"),
        new(0x4824, "GUEST_INTERRUPTIBILITY_INFO", ExitSaveCondition.Always, "27.3.4"),
        new(0x6822, "GUEST_PENDING_DBG_EXCEPTIONS", ExitSaveCondition.Always, "27.3.4"),
        new(0x482E, "VMX_PREEMPTION_TIMER_VALUE", ExitSaveCondition.SavePreemptionTimer, "27.3.4"),
        new(0x280A, "GUEST_PDPTR0", ExitSaveCondition.Always, "27.3.4 (with \"enable EPT\" and PAE paging; a manifest cannot know L1's paging)"),
        new(0x280C, "GUEST_PDPTR1", ExitSaveCondition.Always, "27.3.4 (with \"enable EPT\" and PAE paging)"),
        new(0x280E, "GUEST_PDPTR2", ExitSaveCondition.Always, "27.3.4 (with \"enable EPT\" and PAE paging)"),
        new(0x2810, "GUEST_PDPTR3", ExitSaveCondition.Always, "27.3.4 (with \"enable EPT\" and PAE paging)"),
        new(0x0810, "GUEST_INTR_STATUS", ExitSaveCondition.Always, "29.2 (virtual-interrupt delivery updates it while the guest runs)"),
        new(0x0812, "GUEST_PML_INDEX", ExitSaveCondition.Always, "28.2.6 (page-modification logging decrements it while the guest runs)"),

        // 27.2: exit information.
        new(0x4402, "VM_EXIT_REASON", ExitSaveCondition.Always, "27.2.1"),
        new(0x6400, "EXIT_QUALIFICATION", ExitSaveCondition.Always, "27.2.1"),
        new(0x640A, "GUEST_LINEAR_ADDRESS", ExitSaveCondition.Always, "27.2.1"),
        new(0x2400, "GUEST_PHYSICAL_ADDRESS", ExitSaveCondition.Always, "27.2.1"),
        new(0x4404, "VM_EXIT_INTR_INFO", ExitSaveCondition.Always, "27.2.2"),
        new(0x4406, "VM_EXIT_INTR_ERROR_CODE", ExitSaveCondition.Always, "27.2.2"),
        new(0x4408, "IDT_VECTORING_INFO_FIELD", ExitSaveCondition.Always, "27.2.4"),
        new(0x440A, "IDT_VECTORING_ERROR_CODE", ExitSaveCondition.Always, "27.2.4"),
        new(0x440C, "VM_EXIT_INSTRUCTION_LEN", ExitSaveCondition.Always, "27.2.5"),
        new(0x440E, "VMX_INSTRUCTION_INFO", ExitSaveCondition.Always, "27.2.5"),
    ];

    private static readonly Dictionary<uint, CpuWrittenField> ByEncoding = Table.ToDictionary(f => f.Encoding);

    /// <summary>Every field a VM exit saves or writes, in SDM order.</summary>
    public static IReadOnlyList<CpuWrittenField> Fields { get; } = Array.AsReadOnly(Table);

    public static bool TryGet(uint encoding, out CpuWrittenField field) => ByEncoding.TryGetValue(encoding & ~1u, out field);

    /// <summary>Whether the VM-exit control the condition names is 1 in <paramref name="exitControls"/>.</summary>
    public static bool Holds(ExitSaveCondition condition, ulong exitControls) => condition switch
    {
        ExitSaveCondition.SaveDebugControls => (exitControls & (1ul << 2)) != 0,
        ExitSaveCondition.SaveIa32Pat => (exitControls & (1ul << 18)) != 0,
        ExitSaveCondition.SaveIa32Efer => (exitControls & (1ul << 20)) != 0,
        ExitSaveCondition.SavePreemptionTimer => (exitControls & (1ul << 22)) != 0,
        ExitSaveCondition.SavePerfGlobalCtrl => (exitControls & (1ul << 30)) != 0,
        _ => true,
    };

    /// <summary>Whether an exit with these VM-exit controls saves (or may have changed) the field.</summary>
    public static bool Saves(uint encoding, ulong exitControls) => TryGet(encoding, out var field) && Holds(field.Condition, exitControls);

    private static CpuWrittenField[] Segment(string name, uint selector, uint limit, uint accessRights, uint @base) =>
    [
        new(selector, $"GUEST_{name}_SELECTOR", ExitSaveCondition.Always, "27.3.2"),
        new(limit, $"GUEST_{name}_LIMIT", ExitSaveCondition.Always, "27.3.2"),
        new(accessRights, $"GUEST_{name}_AR_BYTES", ExitSaveCondition.Always, "27.3.2"),
        new(@base, $"GUEST_{name}_BASE", ExitSaveCondition.Always, "27.3.2"),
    ];
}

/// <summary>How L0 keeps a field of vmcs12 current while L2 runs, without reading it back from vmcs02 on a nested exit.</summary>
/// <param name="Encoding">The field's encoding.</param>
/// <param name="Name">The field's SDM name.</param>
/// <param name="Condition">
/// The vmcs12 VM-exit control under which L0 updates vmcs12 (KVM does so only when L1 asked for the save, as the CPU would).
/// </param>
/// <param name="How">Where KVM does it.</param>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
readonly record struct L0KeptField(uint Encoding, string Name, ExitSaveCondition Condition, string How);

/// <summary>
/// The engine's policy (today's KVM): the guest fields a VM exit saves that L0 nevertheless keeps current in vmcs12
/// itself, because every change of them while L2 runs passes through L0 — an intercepted L2 WRMSR that L0 writes
/// through to vmcs12 (arch/x86/kvm/vmx/vmx.c, <c>vmx_set_msr</c> with <c>is_guest_mode</c>: SYSENTER_CS/ESP/EIP,
/// DEBUGCTL, PAT since the 2019 "VMX optimizations" series, BNDCFGS since 2022, PERF_GLOBAL_CTRL through the PMU's MSR
/// intercept), L0's emulation of L1's page-modification log (nested.c <c>nested_vmx_write_pml_buffer</c>: vmcs02's
/// PML index is L0's own; vmcs12's is moved in software), or L0's emulation of L1's VMX-preemption timer (an hrtimer;
/// <c>sync_vmcs02_to_vmcs12</c> computes vmcs12's value with <c>vmx_get_preemption_timer_value</c>, no VMREAD). The engine models these changes as
/// <c>INestedEngine.L2WriteThrough</c>. A <c>no-sync</c> guest or exit-information field that the CPU saves
/// (<c>CpuExitWrites</c>) and that is not here lets L1 read a stale value after a nested exit: unsound.
/// </summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
static class L0KeptFields
{
    private static readonly L0KeptField[] Table =
    [
        new(0x482A, "GUEST_SYSENTER_CS", ExitSaveCondition.Always, "vmx_set_msr MSR_IA32_SYSENTER_CS in guest mode"),
        new(0x6824, "GUEST_SYSENTER_ESP", ExitSaveCondition.Always, "vmx_set_msr MSR_IA32_SYSENTER_ESP in guest mode"),
        new(0x6826, "GUEST_SYSENTER_EIP", ExitSaveCondition.Always, "vmx_set_msr MSR_IA32_SYSENTER_EIP in guest mode"),
        new(0x2802, "GUEST_IA32_DEBUGCTL", ExitSaveCondition.SaveDebugControls, "vmx_set_msr MSR_IA32_DEBUGCTLMSR in guest mode, " +
            "when vmcs12 saves debug controls"),
        new(0x2804, "GUEST_IA32_PAT", ExitSaveCondition.SaveIa32Pat, "vmx_set_msr MSR_IA32_CR_PAT in guest mode, when vmcs12 saves IA32_PAT"),
        new(0x2808, "GUEST_IA32_PERF_GLOBAL_CTRL", ExitSaveCondition.SavePerfGlobalCtrl, "the PMU's intercepted WRMSR of MSR_CORE_PERF_GLOBAL_CTRL in " +
            "guest mode"),
        new(0x2812, "GUEST_BNDCFGS", ExitSaveCondition.Always, "vmx_set_msr MSR_IA32_BNDCFGS in guest mode (2022)"),
        new(0x0812, "GUEST_PML_INDEX", ExitSaveCondition.Always, "nested_vmx_write_pml_buffer: L0 emulates L1's PML log and moves vmcs12's index"),
        new(0x482E, "VMX_PREEMPTION_TIMER_VALUE", ExitSaveCondition.SavePreemptionTimer, "L0 emulates L1's preemption timer with an hrtimer and computes " +
            "vmcs12's value at the exit (sync_vmcs02_to_vmcs12: vmx_get_preemption_timer_value)"),
    ];

    private static readonly Dictionary<uint, L0KeptField> ByEncoding = Table.ToDictionary(f => f.Encoding);

    public static IReadOnlyList<L0KeptField> Fields { get; } = Array.AsReadOnly(Table);

    public static bool TryGet(uint encoding, out L0KeptField field) => ByEncoding.TryGetValue(encoding & ~1u, out field);

    /// <summary>Whether L0 keeps the field current in vmcs12 while L2 runs.</summary>
    public static bool KeepsCurrent(uint encoding) => ByEncoding.ContainsKey(encoding & ~1u);
}

/// <summary>
/// Guest fields whose vmcs02 copy is L0's own, never L1's: KVM's <c>prepare_vmcs02_constant_state</c> (nested.c) writes
/// -1 into vmcs02's VMCS_LINK_POINTER and L0's own page-modification-log head into its GUEST_PML_INDEX (L0 logs L2's
/// writes for its own dirty tracking; L1's log is emulated, <see cref="L0KeptFields"/>). So neither is ever read back
/// from vmcs02 into vmcs12 on a nested exit, whatever the manifest's class; <c>sync_vmcs02_to_vmcs12</c> has no read of either.
/// The rule is part of the every-exit copy set, so it lives with the other classification rules
/// (<c>FieldRules.IsL0OwnedInVmcs02</c>, FieldRules.cs at the runtime's root); this class names it for the CPU-side tables.
/// </summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
static class L0OwnedInVmcs02
{
    public const uint VmcsLinkPointer = VmcsEncoding.VmcsLinkPointer, GuestPmlIndex = FieldRules.GuestPmlIndex;

    public static bool Contains(uint encoding) => FieldRules.IsL0OwnedInVmcs02(encoding);
}
