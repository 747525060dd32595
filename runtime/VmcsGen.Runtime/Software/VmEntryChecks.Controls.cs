using System;

namespace VmcsGen.Software;

public static partial class VmEntryChecks
{
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
            return EntryCheckResult.Control($"26.2.1.1: CR3-target count {vmcs.Read(Cr3TargetCount)} exceeds the {profile.Cr3TargetCount} " +
                "IA32_VMX_MISC allows");
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
            return EntryCheckResult.Control("26.2.1.1: virtualize x2APIC mode, APIC-register virtualization and virtual-interrupt delivery need \"use TPR " +
                "shadow\"");
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
            ((secondary & VirtualInterruptDelivery) == 0 || (exit & AckInterruptOnExit) == 0 || (vmcs.Read(PostedInterruptVector) & 0xFF00) != 0
                || !Aligned(vmcs.Read(PostedInterruptDesc), 64, width)))
        {
            return EntryCheckResult.Control("26.2.1.1: \"process posted interrupts\" needs virtual-interrupt delivery, \"acknowledge interrupt on exit\", " +
                "a vector in 0-255 and a 64-byte aligned descriptor within MAXPHYADDR");
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
            return EntryCheckResult.Control("26.2.1.1: with \"VMCS shadowing\", the VMREAD- and VMWRITE-bitmap addresses are 4 KiB aligned and within " +
                "MAXPHYADDR");
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

        if ((vmcs.Read(ExitMsrStoreCount) != 0 && !Aligned(vmcs.Read(ExitMsrStoreAddr), 16, width))
            || (vmcs.Read(ExitMsrLoadCount) != 0 && !Aligned(vmcs.Read(ExitMsrLoadAddr), 16, width)))
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
                return EntryCheckResult.Control($"26.2.1.3: VM-entry interruption information 0x{interruption:X8}: reserved type 1, bits 30:12 clear, " +
                    "NMI is vector 2, hardware exceptions are vectors 0-31");
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
}
