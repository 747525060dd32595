namespace VmcsGen.Nested;

/// <summary>
/// The VMCS traffic of KVM's nested transitions outside the manifest's copy loops, as field lists the engine replays.
/// Source: arch/x86/kvm/vmx/nested.c, <c>load_vmcs12_host_state</c> (v5.3 and v6.17 alike), and the patches of the 2019
/// "VMX optimizations" series that removed the pre-2019 accesses (named per list).
/// </summary>
internal static class HostStateLoad
{
    /// <summary>
    /// <c>load_vmcs12_host_state</c>: (vmcs01 guest field, vmcs12 host field or 0, value when no host field). RSP/RIP go
    /// through KVM's register cache and are written at the next entry of vmcs01; CR0/CR4 also set their read shadows;
    /// the eight segments are written by <c>__vmx_set_segment</c> (selector, base, limit, access rights) with the values of
    /// SDM 27.5.2; DR7 and DEBUGCTL are reset (SDM 27.5.1); PAT and EFER are loaded as the exit controls of a KVM L1 ask.
    /// </summary>
    public static readonly (uint Guest, uint Host, ulong Constant)[] Writes =
    [
        (0x681C, 0x6C14, 0), // GUEST_RSP ← HOST_RSP
        (0x681E, 0x6C16, 0), // GUEST_RIP ← HOST_RIP
        (0x6820, 0, 0x2), // GUEST_RFLAGS ← 2
        (0x6800, 0x6C00, 0), // GUEST_CR0 ← HOST_CR0
        (0x6004, 0x6C00, 0), // CR0_READ_SHADOW
        (0x6804, 0x6C04, 0), // GUEST_CR4 ← HOST_CR4
        (0x6006, 0x6C04, 0), // CR4_READ_SHADOW
        (0x6802, 0x6C02, 0), // GUEST_CR3 ← HOST_CR3
        (0x482A, 0x4C00, 0), // GUEST_SYSENTER_CS
        (0x6824, 0x6C10, 0), // GUEST_SYSENTER_ESP
        (0x6826, 0x6C12, 0), // GUEST_SYSENTER_EIP
        (0x6818, 0x6C0E, 0), // GUEST_IDTR_BASE
        (0x6816, 0x6C0C, 0), // GUEST_GDTR_BASE
        (0x4812, 0, 0xFFFF), // GUEST_IDTR_LIMIT
        (0x4810, 0, 0xFFFF), // GUEST_GDTR_LIMIT
        (0x681A, 0, 0x400), // GUEST_DR7
        (0x2802, 0, 0), // GUEST_IA32_DEBUGCTL
        (0x2804, 0x2C00, 0), // GUEST_IA32_PAT ← HOST_IA32_PAT
        (0x2806, 0x2C02, 0), // GUEST_IA32_EFER ← HOST_IA32_EFER
        (0x0800, 0x0C00, 0), (0x6806, 0, 0), (0x4800, 0, 0xFFFF_FFFF), (0x4814, 0, 0xC093), // ES
        (0x0802, 0x0C02, 0), (0x6808, 0, 0), (0x4802, 0, 0xFFFF_FFFF), (0x4816, 0, 0xA09B), // CS
        (0x0804, 0x0C04, 0), (0x680A, 0, 0), (0x4804, 0, 0xFFFF_FFFF), (0x4818, 0, 0xC093), // SS
        (0x0806, 0x0C06, 0), (0x680C, 0, 0), (0x4806, 0, 0xFFFF_FFFF), (0x481A, 0, 0xC093), // DS
        (0x0808, 0x0C08, 0), (0x680E, 0x6C06, 0), (0x4808, 0, 0xFFFF_FFFF), (0x481C, 0, 0xC093), // FS
        (0x080A, 0x0C0A, 0), (0x6810, 0x6C08, 0), (0x480A, 0, 0xFFFF_FFFF), (0x481E, 0, 0xC093), // GS
        (0x080E, 0x0C0C, 0), (0x6814, 0x6C0A, 0), (0x480E, 0, 0x67), (0x4822, 0, 0x8B), // TR
        (0x080C, 0, 0), (0x6812, 0, 0), (0x480C, 0, 0), (0x4820, 0, 0x10000), // LDTR (unusable)
    ];

    /// <summary>
    /// Written into vmcs02 on every nested entry before 2019: GUEST_PML_INDEX ("Don't rewrite GUEST_PML_INDEX during nested
    /// VM-Entry"), ENCLS_EXITING_BITMAP ("Write ENCLS-exiting bitmap once per vmcs02"), VIRTUAL_APIC_PAGE_ADDR and
    /// APIC_ACCESS_ADDR ("Don't speculatively write virtual-APIC page address / APIC-access page address"), the four PDPTRs ("Copy PDPTRs to/from vmcs12 only
    /// when necessary": an L2 in 64-bit mode needs none). The accesses
    /// the series moved to WRMSR time (PAT, SYSENTER, DEBUGCTL) are the manifest's business: <c>sync</c> in kvm-2018.vmcs,
    /// <c>no-sync</c> in kvm.vmcs.
    /// </summary>
    public static readonly uint[] LegacyEntryWrites =
    [
        0x0812, 0x202E, 0x2012, 0x2014,
        0x280A, 0x280C, 0x280E, 0x2810,
    ];
}
