using System;

namespace VmcsGen.Software;

/// <summary>Reads the fields of a VMCS for the entry checks (a field the VMCS lacks reads as 0).</summary>
public interface IVmcsFieldReader
{
    ulong Read(uint encoding);
}

/// <summary>The verdict of the VM-entry checks: pass, VMfailValid(7 or 8), or a VM-entry failure (reason 33, qualification).</summary>
public readonly record struct EntryCheckResult(InstructionOutcomeKind Kind, VmxInstructionError Error, ulong Qualification, string? Rule)
{
    public static EntryCheckResult Pass => new(InstructionOutcomeKind.Succeed, 0, 0, null);

    public bool Passed => Kind == InstructionOutcomeKind.Succeed;

    public static EntryCheckResult Control(string rule) => new(InstructionOutcomeKind.FailValid, VmxInstructionError.EntryInvalidControlField, 0, rule);

    public static EntryCheckResult Host(string rule) => new(InstructionOutcomeKind.FailValid, VmxInstructionError.EntryInvalidHostStateField, 0, rule);

    public static EntryCheckResult Guest(string rule, ulong qualification = 0) => new(InstructionOutcomeKind.EntryFailure, 0, qualification, rule);
}

/// <summary>
/// The checks VMLAUNCH and VMRESUME make after the VMfail checks of the instruction (SDM Vol. 3C 26.2 and 26.3), as one
/// rule set the software processor applies and L0's checks of vmcs12 reuse (as KVM's nested_vmx_check_* mirror the SDM).
/// In order: VM-execution, VM-exit and VM-entry control fields (26.2.1, VMfailValid(7)); host state (26.2.2-26.2.4,
/// VMfailValid(8)); guest state (26.3.1, a VM-entry failure exit with reason 33). Each failure names its SDM rule.
/// Modelled: the rules listed in docs/RUNTIME.md ("VM-entry checks"); not modelled: segment-register checks beyond the
/// TR/LDTR/CS basics, PDPTE checks, the executive-VMCS pointer (SMM), and the MSR-load area's contents.
/// </summary>
public static class VmEntryChecks
{
    // Control fields.
    private const uint PinBased = 0x4000, ProcBased = 0x4002, ExceptionBitmap = 0x4004, Cr3TargetCount = 0x400A, ExitControls = 0x400C,
        ExitMsrStoreCount = 0x400E, ExitMsrLoadCount = 0x4010, EntryControls = 0x4012, EntryMsrLoadCount = 0x4014, EntryInterruptionInfo = 0x4016,
        EntryExceptionErrorCode = 0x4018, EntryInstructionLength = 0x401A, TprThreshold = 0x401C, Secondary = 0x401E;

    private const uint IoBitmapA = 0x2000, IoBitmapB = 0x2002, MsrBitmap = 0x2004, ExitMsrStoreAddr = 0x2006, ExitMsrLoadAddr = 0x2008,
        EntryMsrLoadAddr = 0x200A, PmlAddress = 0x200E, VirtualApic = 0x2012, ApicAccess = 0x2014, PostedInterruptDesc = 0x2016, Eptp = 0x201A,
        VmreadBitmap = 0x2026, VmwriteBitmap = 0x2028, Vpid = 0x0000, PostedInterruptVector = 0x0002;

    // Host state.
    private const uint HostCr0 = 0x6C00, HostCr3 = 0x6C02, HostCr4 = 0x6C04, HostFsBase = 0x6C06, HostGsBase = 0x6C08, HostTrBase = 0x6C0A,
        HostGdtrBase = 0x6C0C, HostIdtrBase = 0x6C0E, HostSysenterEsp = 0x6C10, HostSysenterEip = 0x6C12, HostRip = 0x6C16,
        HostEs = 0x0C00, HostCs = 0x0C02, HostSs = 0x0C04, HostDs = 0x0C06, HostFs = 0x0C08, HostGs = 0x0C0A, HostTr = 0x0C0C,
        HostPat = 0x2C00, HostEfer = 0x2C02;

    // Guest state.
    private const uint GuestCr0 = 0x6800, GuestCr4 = 0x6804, GuestRflags = 0x6820, GuestActivity = 0x4826, GuestInterruptibility = 0x4824,
        GuestPendingDebug = 0x6822, LinkPointer = 0x2800, GuestSsAr = 0x4818, GuestTrAr = 0x4822, GuestDebugCtl = 0x2802, GuestEfer = 0x2806;

    private const uint ActivateSecondary = 1u << 31, UseIoBitmaps = 1u << 25, UseMsrBitmaps = 1u << 28, UseTprShadow = 1u << 21, NmiWindowExiting = 1u << 22;
    private const uint ExternalInterruptExiting = 1u << 0, NmiExiting = 1u << 3, VirtualNmis = 1u << 5, PreemptionTimer = 1u << 6, PostedInterrupts = 1u << 7;
    private const uint VirtualizeApicAccesses = 1u << 0, EnableEpt = 1u << 1, EnableVpid = 1u << 5, UnrestrictedGuest = 1u << 7,
        VirtualizeX2Apic = 1u << 4, VirtualInterruptDelivery = 1u << 9, VmcsShadowing = 1u << 14, EnablePml = 1u << 17;
    private const uint HostAddressSpaceSize = 1u << 9, AckInterruptOnExit = 1u << 15, SavePreemptionTimer = 1u << 22, LoadHostPat = 1u << 19, LoadHostEfer = 1u << 21;
    private const uint Ia32eModeGuest = 1u << 9, LoadGuestDebugControls = 1u << 2, LoadGuestEfer = 1u << 15;

    /// <summary>Runs every check in the SDM's order; <paramref name="hostInIa32eMode"/> is IA32_EFER.LMA of the processor doing the entry.</summary>
    public static EntryCheckResult Check<TReader>(ref TReader vmcs, VmxProfile profile, PhysicalMemory? memory, bool hostInIa32eMode = true)
        where TReader : struct, IVmcsFieldReader
    {
        var result = Controls(ref vmcs, profile);
        if (!result.Passed)
        {
            return result;
        }

        result = Host(ref vmcs, profile, hostInIa32eMode);
        return result.Passed ? Guest(ref vmcs, profile, memory) : result;
    }

    /// <summary>SDM 26.2.1: VM-execution, VM-exit and VM-entry control fields; a failure is VMfailValid(7).</summary>
    public static EntryCheckResult Controls<TReader>(ref TReader vmcs, VmxProfile profile)
        where TReader : struct, IVmcsFieldReader
    {
        var caps = profile.Capabilities;
        var pin = (uint)vmcs.Read(PinBased);
        var proc = (uint)vmcs.Read(ProcBased);
        var secondary = (proc & ActivateSecondary) != 0 ? (uint)vmcs.Read(Secondary) : 0;
        var exit = (uint)vmcs.Read(ExitControls);
        var entry = (uint)vmcs.Read(EntryControls);
        string? Allowed(VmxControl control, uint value, string name)
        {
            var must = caps.MustBeOne(control);
            var may = (uint)caps.Allowed1(control);
            return (value & must) != must ? $"26.2.1.1: {name} 0x{value:X8} lacks bits 0x{must & ~value:X8} the capability MSR requires"
                : (value & ~may) != 0 ? $"26.2.1.1: {name} 0x{value:X8} sets bits 0x{value & ~may:X8} the capability MSR does not allow"
                : null;
        }

        var width = profile.PhysicalAddressWidth;
        var failure = Allowed(VmxControl.PinBased, pin, "pin-based controls")
            ?? Allowed(VmxControl.PrimaryProcessorBased, proc, "primary processor-based controls")
            ?? ((proc & ActivateSecondary) != 0 ? Allowed(VmxControl.SecondaryProcessorBased, secondary, "secondary processor-based controls") : null);
        if (failure is not null)
        {
            return EntryCheckResult.Control(failure);
        }

        if (vmcs.Read(Cr3TargetCount) > (ulong)profile.Cr3TargetCount)
        {
            return EntryCheckResult.Control($"26.2.1.1: CR3-target count {vmcs.Read(Cr3TargetCount)} exceeds the {profile.Cr3TargetCount} IA32_VMX_MISC allows");
        }

        if ((proc & UseIoBitmaps) != 0 && (!Aligned(vmcs.Read(IoBitmapA), 4096, width) || !Aligned(vmcs.Read(IoBitmapB), 4096, width)))
        {
            return EntryCheckResult.Control("26.2.1.1: with \"use I/O bitmaps\", both I/O-bitmap addresses are 4 KiB aligned and within MAXPHYADDR");
        }

        if ((proc & UseMsrBitmaps) != 0 && !Aligned(vmcs.Read(MsrBitmap), 4096, width))
        {
            return EntryCheckResult.Control("26.2.1.1: with \"use MSR bitmaps\", the MSR-bitmap address is 4 KiB aligned and within MAXPHYADDR");
        }

        if ((proc & UseTprShadow) != 0)
        {
            if (!Aligned(vmcs.Read(VirtualApic), 4096, width))
            {
                return EntryCheckResult.Control("26.2.1.1: with \"use TPR shadow\", the virtual-APIC address is 4 KiB aligned and within MAXPHYADDR");
            }

            if ((secondary & VirtualInterruptDelivery) == 0 && (vmcs.Read(TprThreshold) & 0xFFFF_FFF0) != 0)
            {
                return EntryCheckResult.Control("26.2.1.1: TPR threshold bits 31:4 are 0 without virtual-interrupt delivery");
            }
        }
        else if ((secondary & (VirtualizeX2Apic | VirtualInterruptDelivery)) != 0 || (secondary & 0x100) != 0)
        {
            return EntryCheckResult.Control("26.2.1.1: virtualize x2APIC mode, APIC-register virtualization and virtual-interrupt delivery need \"use TPR shadow\"");
        }

        if ((pin & NmiExiting) == 0 && (pin & VirtualNmis) != 0)
        {
            return EntryCheckResult.Control("26.2.1.1: \"virtual NMIs\" needs \"NMI exiting\"");
        }

        if ((pin & VirtualNmis) == 0 && (proc & NmiWindowExiting) != 0)
        {
            return EntryCheckResult.Control("26.2.1.1: \"NMI-window exiting\" needs \"virtual NMIs\"");
        }

        if ((secondary & VirtualizeApicAccesses) != 0 && !Aligned(vmcs.Read(ApicAccess), 4096, width))
        {
            return EntryCheckResult.Control("26.2.1.1: with \"virtualize APIC accesses\", the APIC-access address is 4 KiB aligned and within MAXPHYADDR");
        }

        if ((secondary & VirtualizeX2Apic) != 0 && (secondary & VirtualizeApicAccesses) != 0)
        {
            return EntryCheckResult.Control("26.2.1.1: \"virtualize x2APIC mode\" and \"virtualize APIC accesses\" exclude each other");
        }

        if ((secondary & VirtualInterruptDelivery) != 0 && (pin & ExternalInterruptExiting) == 0)
        {
            return EntryCheckResult.Control("26.2.1.1: \"virtual-interrupt delivery\" needs \"external-interrupt exiting\"");
        }

        if ((pin & PostedInterrupts) != 0 &&
            ((secondary & VirtualInterruptDelivery) == 0 || (exit & AckInterruptOnExit) == 0 || (vmcs.Read(PostedInterruptVector) & 0xFF00) != 0 || !Aligned(vmcs.Read(PostedInterruptDesc), 64, width)))
        {
            return EntryCheckResult.Control("26.2.1.1: \"process posted interrupts\" needs virtual-interrupt delivery, \"acknowledge interrupt on exit\", a vector in 0-255 and a 64-byte aligned descriptor within MAXPHYADDR");
        }

        if ((secondary & EnableVpid) != 0 && vmcs.Read(Vpid) == 0)
        {
            return EntryCheckResult.Control("26.2.1.1: with \"enable VPID\", the VPID is not 0");
        }

        if ((secondary & EnableEpt) != 0)
        {
            var eptp = vmcs.Read(Eptp);
            var memoryType = eptp & 7;
            var walk = (eptp >> 3) & 7;
            if ((memoryType != 0 && memoryType != 6) || walk != 3 || (eptp & 0xF80) != 0 || (eptp >> profile.PhysicalAddressWidth) != 0)
            {
                return EntryCheckResult.Control($"26.2.1.1: EPTP 0x{eptp:X}: memory type UC or WB, a 4-level walk, bits 11:7 clear, within MAXPHYADDR");
            }
        }

        if ((secondary & EnablePml) != 0 && ((secondary & EnableEpt) == 0 || !Aligned(vmcs.Read(PmlAddress), 4096, width)))
        {
            return EntryCheckResult.Control("26.2.1.1: \"enable PML\" needs \"enable EPT\" and a 4 KiB aligned PML address within MAXPHYADDR");
        }

        if ((secondary & UnrestrictedGuest) != 0 && (secondary & EnableEpt) == 0)
        {
            return EntryCheckResult.Control("26.2.1.1: \"unrestricted guest\" needs \"enable EPT\"");
        }

        if ((secondary & VmcsShadowing) != 0 && (!Aligned(vmcs.Read(VmreadBitmap), 4096, width) || !Aligned(vmcs.Read(VmwriteBitmap), 4096, width)))
        {
            return EntryCheckResult.Control("26.2.1.1: with \"VMCS shadowing\", the VMREAD- and VMWRITE-bitmap addresses are 4 KiB aligned and within MAXPHYADDR");
        }

        failure = Allowed(VmxControl.VmExit, exit, "VM-exit controls");
        if (failure is not null)
        {
            return EntryCheckResult.Control(failure.Replace("26.2.1.1", "26.2.1.2", StringComparison.Ordinal));
        }

        if ((pin & PreemptionTimer) == 0 && (exit & SavePreemptionTimer) != 0)
        {
            return EntryCheckResult.Control("26.2.1.2: \"save VMX-preemption timer value\" needs \"activate VMX-preemption timer\"");
        }

        if ((vmcs.Read(ExitMsrStoreCount) != 0 && !Aligned(vmcs.Read(ExitMsrStoreAddr), 16, width)) || (vmcs.Read(ExitMsrLoadCount) != 0 && !Aligned(vmcs.Read(ExitMsrLoadAddr), 16, width)))
        {
            return EntryCheckResult.Control("26.2.1.2: a VM-exit MSR-store or MSR-load area in use is 16-byte aligned and within MAXPHYADDR");
        }

        failure = Allowed(VmxControl.VmEntry, entry, "VM-entry controls");
        if (failure is not null)
        {
            return EntryCheckResult.Control(failure.Replace("26.2.1.1", "26.2.1.3", StringComparison.Ordinal));
        }

        var interruption = (uint)vmcs.Read(EntryInterruptionInfo);
        if ((interruption & 0x8000_0000) != 0)
        {
            var type = (interruption >> 8) & 7;
            var vector = interruption & 0xFF;
            if (type == 1 || (interruption & 0x7FFF_F000) != 0 || (type == 2 && vector != 2) || (type == 3 && vector > 31))
            {
                return EntryCheckResult.Control($"26.2.1.3: VM-entry interruption information 0x{interruption:X8}: reserved type 1, bits 30:12 clear, NMI is vector 2, hardware exceptions are vectors 0-31");
            }

            if ((type is 4 or 5 or 6) && vmcs.Read(EntryInstructionLength) is 0 or > 15)
            {
                return EntryCheckResult.Control("26.2.1.3: injecting a software interrupt or exception needs an instruction length of 1 to 15");
            }

            if ((interruption & 0x800) != 0 && (vmcs.Read(EntryExceptionErrorCode) & 0xFFFF_8000) != 0)
            {
                return EntryCheckResult.Control("26.2.1.3: the VM-entry exception error code has bits 31:15 clear");
            }
        }

        if (vmcs.Read(EntryMsrLoadCount) != 0 && !Aligned(vmcs.Read(EntryMsrLoadAddr), 16, width))
        {
            return EntryCheckResult.Control("26.2.1.3: a VM-entry MSR-load area in use is 16-byte aligned and within MAXPHYADDR");
        }

        _ = vmcs.Read(ExceptionBitmap);
        return EntryCheckResult.Pass;
    }

    /// <summary>SDM 26.2.2-26.2.4: host control registers, MSRs, segment and descriptor-table registers, address-space size; a failure is VMfailValid(8).</summary>
    public static EntryCheckResult Host<TReader>(ref TReader vmcs, VmxProfile profile, bool hostInIa32eMode = true)
        where TReader : struct, IVmcsFieldReader
    {
        var exit = (uint)vmcs.Read(ExitControls);
        var cr0 = vmcs.Read(HostCr0);
        var cr4 = vmcs.Read(HostCr4);
        if (!FixedBits(cr0, profile.ReadMsr(VmxMsr.Cr0Fixed0), profile.ReadMsr(VmxMsr.Cr0Fixed1)))
        {
            return EntryCheckResult.Host($"26.2.2: host CR0 0x{cr0:X} breaks IA32_VMX_CR0_FIXED0/1");
        }

        if (!FixedBits(cr4, profile.ReadMsr(VmxMsr.Cr4Fixed0), profile.ReadMsr(VmxMsr.Cr4Fixed1)))
        {
            return EntryCheckResult.Host($"26.2.2: host CR4 0x{cr4:X} breaks IA32_VMX_CR4_FIXED0/1");
        }

        if ((vmcs.Read(HostCr3) >> profile.PhysicalAddressWidth) != 0)
        {
            return EntryCheckResult.Host("26.2.2: host CR3 is within MAXPHYADDR");
        }

        if (!Canonical(vmcs.Read(HostSysenterEsp)) || !Canonical(vmcs.Read(HostSysenterEip)))
        {
            return EntryCheckResult.Host("26.2.2: host IA32_SYSENTER_ESP and _EIP are canonical");
        }

        if ((exit & LoadHostPat) != 0 && !ValidPat(vmcs.Read(HostPat)))
        {
            return EntryCheckResult.Host("26.2.2: a loaded host IA32_PAT has only valid memory types (0, 1, 4, 5, 6, 7)");
        }

        var hostLong = (exit & HostAddressSpaceSize) != 0;
        if ((exit & LoadHostEfer) != 0)
        {
            var efer = vmcs.Read(HostEfer);
            var lma = (efer & (1ul << 10)) != 0;
            var lme = (efer & (1ul << 8)) != 0;
            if ((efer & ~0xD01ul) != 0 || lma != hostLong || lme != hostLong)
            {
                return EntryCheckResult.Host("26.2.2: a loaded host IA32_EFER has no reserved bit, and LMA = LME = \"host address-space size\"");
            }
        }

        foreach (var selector in new[] { HostEs, HostCs, HostSs, HostDs, HostFs, HostGs, HostTr })
        {
            if ((vmcs.Read(selector) & 7) != 0)
            {
                return EntryCheckResult.Host($"26.2.3: host selector 0x{selector:X4} has RPL and TI 0");
            }
        }

        if (vmcs.Read(HostCs) == 0 || vmcs.Read(HostTr) == 0 || (!hostLong && vmcs.Read(HostSs) == 0))
        {
            return EntryCheckResult.Host("26.2.3: host CS and TR selectors are not 0 (nor SS outside IA-32e mode)");
        }

        if (!Canonical(vmcs.Read(HostFsBase)) || !Canonical(vmcs.Read(HostGsBase)) || !Canonical(vmcs.Read(HostTrBase))
            || !Canonical(vmcs.Read(HostGdtrBase)) || !Canonical(vmcs.Read(HostIdtrBase)))
        {
            return EntryCheckResult.Host("26.2.3: host FS, GS, TR, GDTR and IDTR bases are canonical");
        }

        if (hostInIa32eMode != hostLong)
        {
            return EntryCheckResult.Host("26.2.4: \"host address-space size\" equals IA32_EFER.LMA of the processor doing the entry");
        }

        if (hostLong && ((cr4 & (1ul << 5)) == 0 || !Canonical(vmcs.Read(HostRip))))
        {
            return EntryCheckResult.Host("26.2.4: a 64-bit host has CR4.PAE set and a canonical RIP");
        }

        return EntryCheckResult.Pass;
    }

    /// <summary>SDM 26.3.1: the guest-state checks modelled; a failure is a VM-entry failure exit, reason 33 (qualification 4 for the VMCS link pointer).</summary>
    public static EntryCheckResult Guest<TReader>(ref TReader vmcs, VmxProfile profile, PhysicalMemory? memory)
        where TReader : struct, IVmcsFieldReader
    {
        var entry = (uint)vmcs.Read(EntryControls);
        var proc = (uint)vmcs.Read(ProcBased);
        var secondary = (proc & ActivateSecondary) != 0 ? (uint)vmcs.Read(Secondary) : 0;
        var cr0 = vmcs.Read(GuestCr0);
        var cr4 = vmcs.Read(GuestCr4);
        var fixed0 = profile.ReadMsr(VmxMsr.Cr0Fixed0);
        if ((secondary & UnrestrictedGuest) != 0)
        {
            fixed0 &= ~0x8000_0001ul; // PE and PG may be 0 with "unrestricted guest"
        }

        if (!FixedBits(cr0, fixed0, profile.ReadMsr(VmxMsr.Cr0Fixed1)) || ((cr0 & 0x8000_0000) != 0 && (cr0 & 1) == 0))
        {
            return EntryCheckResult.Guest($"26.3.1.1: guest CR0 0x{cr0:X} breaks IA32_VMX_CR0_FIXED0/1 (or sets PG without PE)");
        }

        if (!FixedBits(cr4, profile.ReadMsr(VmxMsr.Cr4Fixed0), profile.ReadMsr(VmxMsr.Cr4Fixed1)))
        {
            return EntryCheckResult.Guest($"26.3.1.1: guest CR4 0x{cr4:X} breaks IA32_VMX_CR4_FIXED0/1");
        }

        var ia32e = (entry & Ia32eModeGuest) != 0;
        if (ia32e && ((cr0 & 0x8000_0000) == 0 || (cr4 & (1ul << 5)) == 0))
        {
            return EntryCheckResult.Guest("26.3.1.1: an IA-32e mode guest has CR0.PG and CR4.PAE set");
        }

        if (!ia32e && (cr4 & (1ul << 17)) != 0)
        {
            return EntryCheckResult.Guest("26.3.1.1: outside IA-32e mode, guest CR4.PCIDE is 0");
        }

        if ((entry & LoadGuestDebugControls) != 0 && (vmcs.Read(GuestDebugCtl) & ~0x1_FFC3ul) != 0)
        {
            return EntryCheckResult.Guest("26.3.1.1: a loaded guest IA32_DEBUGCTL has no reserved bit set");
        }

        if ((entry & LoadGuestEfer) != 0)
        {
            var efer = vmcs.Read(GuestEfer);
            var lma = (efer & (1ul << 10)) != 0;
            if ((efer & ~0xD01ul) != 0 || lma != ia32e || ((cr0 & 0x8000_0000) != 0 && lma != ((efer & (1ul << 8)) != 0)))
            {
                return EntryCheckResult.Guest("26.3.1.1: a loaded guest IA32_EFER has no reserved bit, LMA = \"IA-32e mode guest\", and LMA = LME when CR0.PG is set");
            }
        }

        var rflags = vmcs.Read(GuestRflags);
        if ((rflags & 0xFFFF_FFFF_FFC0_8028ul) != 0 || (rflags & 2) == 0 || ((ia32e || (cr0 & 1) == 0) && (rflags & 0x2_0000) != 0))
        {
            return EntryCheckResult.Guest($"26.3.1.4: guest RFLAGS 0x{rflags:X}: bits 63:22, 15, 5 and 3 clear, bit 1 set, VM clear in IA-32e mode or with CR0.PE = 0");
        }

        if ((vmcs.Read(GuestTrAr) & 0x10000) != 0)
        {
            return EntryCheckResult.Guest("26.3.1.2: guest TR is usable");
        }

        if (SegmentBases(ref vmcs) is { } bases)
        {
            return EntryCheckResult.Guest(bases);
        }

        var activity = vmcs.Read(GuestActivity);
        var supported = (profile.ReadMsr(VmxMsr.Misc) >> 6) & 7;
        if (activity > 3 || (activity != 0 && (supported & (1ul << (int)(activity - 1))) == 0))
        {
            return EntryCheckResult.Guest($"26.3.1.5: activity state {activity} is one IA32_VMX_MISC bits 8:6 support");
        }

        if (activity == 1 && ((vmcs.Read(GuestSsAr) >> 5) & 3) != 0)
        {
            return EntryCheckResult.Guest("26.3.1.5: the HLT activity state needs SS.DPL 0");
        }

        var interruptibility = vmcs.Read(GuestInterruptibility);
        if ((interruptibility & ~0x1Ful) != 0 || (interruptibility & 3) == 3 || ((rflags & 0x200) == 0 && (interruptibility & 1) != 0))
        {
            return EntryCheckResult.Guest($"26.3.1.5: interruptibility state 0x{interruptibility:X}: bits 31:5 clear, not both STI and MOV-SS blocking, no STI blocking with IF = 0");
        }

        if ((vmcs.Read(GuestPendingDebug) & ~0x1_500Ful) != 0)
        {
            return EntryCheckResult.Guest("26.3.1.5: pending debug exceptions have only bits 3:0, 12, 14 and 16");
        }

        var link = vmcs.Read(LinkPointer);
        if (link != ulong.MaxValue)
        {
            if ((link & 0xFFF) != 0 || (link >> profile.PhysicalAddressWidth) != 0)
            {
                return EntryCheckResult.Guest("26.3.1.5: the VMCS link pointer is -1 or 4 KiB aligned within MAXPHYADDR", 4);
            }

            if (memory is not null)
            {
                var header = memory.ReadUInt32(link);
                var shadowing = (secondary & VmcsShadowing) != 0;
                if ((header & 0x7FFF_FFFF) != profile.Revision || ((header & 0x8000_0000) != 0) != shadowing)
                {
                    return EntryCheckResult.Guest("26.3.1.5: the VMCS the link pointer references has this processor's revision and a shadow-VMCS indicator equal to \"VMCS shadowing\"", 4);
                }
            }
        }

        return EntryCheckResult.Pass;
    }

    private static bool FixedBits(ulong value, ulong fixed0, ulong fixed1) => (value & fixed0) == fixed0 && (value & ~fixed1 & 0xFFFF_FFFF) == 0 && (fixed1 > 0xFFFF_FFFF || (value >> 32) == 0);

    private static bool Aligned(ulong address, int alignment, int width) => (address & (ulong)(alignment - 1)) == 0 && (address >> width) == 0;

    /// <summary>
    /// 26.3.1.2 base-address checks (on a processor that supports Intel 64) and 26.3.1.3: TR, FS and GS bases canonical,
    /// LDTR's when usable; bits 63:32 of CS's base zero, of SS's, DS's and ES's when usable; GDTR and IDTR bases canonical and
    /// their limits within 16 bits. Found by running vmcs02 on Bochs (issue 21, 4b: a workload's random GUEST_GS_BASE), whose
    /// cpu/vmx.cc VMenterLoadCheckGuestState fails "guest %s.BASE non canonical".
    /// </summary>
    private static string? SegmentBases<TReader>(ref TReader vmcs)
        where TReader : struct, IVmcsFieldReader
    {
        string[] names = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"];
        for (var i = 0u; i < 8; i++)
        {
            var baseAddress = vmcs.Read(0x6806 + (2 * i));
            var usable = (vmcs.Read(0x4814 + (2 * i)) & 0x10000) == 0;
            var fault = i switch
            {
                4 or 5 or 7 => !Canonical(baseAddress),
                6 => usable && !Canonical(baseAddress),
                1 => baseAddress >> 32 != 0,
                _ => usable && baseAddress >> 32 != 0,
            };
            if (fault)
            {
                return $"26.3.1.2: guest {names[i]} base 0x{baseAddress:X} is {(i >= 4 ? "canonical" : "within 32 bits")}";
            }
        }

        if (!Canonical(vmcs.Read(0x6816)) || !Canonical(vmcs.Read(0x6818)) || vmcs.Read(0x4810) > 0xFFFF || vmcs.Read(0x4812) > 0xFFFF)
        {
            return "26.3.1.3: guest GDTR and IDTR bases are canonical and their limits have bits 31:16 clear";
        }

        return null;
    }

    private static bool Canonical(ulong address) => ((long)address << 16 >> 16) == (long)address;

    private static bool ValidPat(ulong pat)
    {
        for (var i = 0; i < 8; i++)
        {
            var type = (pat >> (8 * i)) & 0xFF;
            if (type is 2 or 3 or > 7)
            {
                return false;
            }
        }

        return true;
    }
}
