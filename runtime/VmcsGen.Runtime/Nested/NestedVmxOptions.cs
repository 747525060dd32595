namespace VmcsGen.Nested;

/// <summary>
/// How the engine behaves. The defaults are today's KVM; the three <c>Pre2019…</c> switches bring back what KVM did
/// before the 2019 "VMX optimizations" series, so the simulator can compare eras on the same manifest.
/// </summary>
public sealed record NestedVmxOptions
{
    /// <summary>Use a shadow VMCS for L1's VMREAD/VMWRITE (off: every access exits).</summary>
    public bool UseShadowVmcs { get; init; } = true;

    /// <summary>Pre-2019: the shadow copy loops look each field's vmcs12 offset up at run time (compact table + width switch).</summary>
    public bool RuntimeOffsetLookup { get; init; }

    /// <summary>Pre-2019: every nested entry rewrites every control field of vmcs02, changed or not.</summary>
    public bool RewriteControlsEveryEntry { get; init; }

    /// <summary>Pre-2019: every vmcs01/vmcs02 switch also puts and loads the vCPU's state (counted, costed by the simulator).</summary>
    public bool PutVcpuOnVmcsSwitch { get; init; }

    /// <summary>
    /// Pre-2019: the VMCS traffic the 2019 series removed outside the copy loops and the manifest: GUEST_PML_INDEX, the
    /// ENCLS-exiting bitmap, the virtual-APIC and APIC-access addresses and the four PDPTRs written on every nested entry.
    /// </summary>
    public bool Pre2019VmcsTraffic { get; init; }

    /// <summary>
    /// Before Linux 4.16 (commit 74a497fae754, "KVM: nVMX: track dirty state of non-shadowed VMCS fields", December 2017):
    /// no dirty tracking of vmcs12, so every nested entry prepares vmcs02 in full from vmcs12, every dirty group written
    /// whether L1 changed it or not (prepare_vmcs02 of Linux 4.15 has no prepare_vmcs02_full split).
    /// </summary>
    public bool PrepareFullVmcs02EveryEntry { get; init; }

    /// <summary>
    /// Before commit 44900ba65e16 ("KVM: VMX: optimize shadow VMCS copying", December 2017): the shadow copy loops of
    /// Linux 4.15 switch on each field's width on the VMCS side too (vmcs_read16/32/64/readl in copy_shadow_to_vmcs12,
    /// vmcs_write16/32/64/writel in copy_vmcs12_to_shadow) besides vmcs12_read_any/vmcs12_write_any's own lookup: one more
    /// per-field run-time dispatch, counted as a run-time lookup (<see cref="NestedCounters.RuntimeLookups"/>). Takes
    /// effect with <see cref="RuntimeOffsetLookup"/>.
    /// </summary>
    public bool ShadowCopyWidthSwitch { get; init; }

    /// <summary>
    /// On every nested exit, write L1's state from vmcs12's host-state area into vmcs01 (KVM's <c>load_vmcs12_host_state</c>).
    /// On by default, as in every KVM; off only to measure the engine's field movement alone.
    /// </summary>
    public bool LoadHostStateIntoVmcs01 { get; init; } = true;

    /// <summary>
    /// L0 checks vmcs12 at L1's VMLAUNCH/VMRESUME with the processor's VM-entry rules (<see cref="Software.VmEntryChecks"/>)
    /// against this profile, L1's view of VMX (e.g. <see cref="Software.VmxProfile.Kvm"/>), as KVM's nested_vmx_check_*
    /// do: controls VMfailValid(7), host state VMfailValid(8), guest state a VM-entry failure exit to L1 (reason 33 with
    /// bit 31, qualification in vmcs12, vmcs12 not launched). Null (default): no checks, for the zeroed vmcs12s of
    /// simulations and benchmarks.
    /// </summary>
    public Software.VmxProfile? Vmcs12EntryChecks { get; init; }

    /// <summary>Features of L0's CPU (a mask of the layout's Features); null = all of them.</summary>
    public ulong? Features { get; init; }

    /// <summary>Whether L1 is told it may VMWRITE exit-information fields; null = the manifest's <c>vmwrite-any</c>.</summary>
    public bool? L1VmwriteAny { get; init; }

    /// <summary>
    /// L0 offers L1 "VMCS shadowing" (KVM does when its own CPU has it): L1 may VMPTRLD a region with the shadow-VMCS bit,
    /// as KVM's handle_vmptrld allows; without it such a VMPTRLD is VMfailValid(11).
    /// </summary>
    public bool L1VmcsShadowing { get; init; } = true;

    /// <summary>
    /// L1's VMXON region (guest-physical) when the engine starts: L1 begins in VMX operation; VMPTRLD and VMCLEAR refuse
    /// the pointer. <c>L1VmxOff</c> and <c>L1VmxOn</c> change it.
    /// </summary>
    public ulong L1VmxonPointer { get; init; } = 0x1000;

    /// <summary>L1's MAXPHYADDR.</summary>
    public int L1PhysicalAddressWidth { get; init; } = 46;
}
