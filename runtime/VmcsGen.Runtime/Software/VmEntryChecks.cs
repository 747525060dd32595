namespace VmcsGen.Software;

/// <summary>
/// The checks VMLAUNCH and VMRESUME make after the VMfail checks of the instruction (SDM Vol. 3C 26.2 and 26.3), as one
/// rule set the software processor applies and L0's checks of vmcs12 reuse (as KVM's nested_vmx_check_* mirror the SDM).
/// In order: VM-execution, VM-exit and VM-entry control fields (26.2.1, VMfailValid(7)); host state (26.2.2-26.2.4,
/// VMfailValid(8)); guest state (26.3.1, a VM-entry failure exit with reason 33). Each failure names its SDM rule.
/// Modelled: the rules listed in docs/RUNTIME.md ("VM-entry checks"); not modelled: segment-register checks beyond the
/// TR/LDTR/CS basics, PDPTE checks, the executive-VMCS pointer (SMM), and the MSR-load area's contents.
/// </summary>
public static partial class VmEntryChecks
{
    // Control fields.
    private const uint PinBased = 0x4000, ProcBased = 0x4002, ExceptionBitmap = 0x4004, Cr3TargetCount = 0x400A, ExitControls = 0x400C,
        ExitMsrStoreCount = 0x400E, ExitMsrLoadCount = 0x4010, EntryControls = 0x4012, EntryMsrLoadCount = 0x4014, EntryInterruptionInfo = 0x4016,
        EntryExceptionErrorCode = 0x4018, EntryInstructionLength = 0x401A, TprThreshold = 0x401C, Secondary = 0x401E;

    private const uint IoBitmapA = 0x2000, IoBitmapB = 0x2002, MsrBitmap = 0x2004, ExitMsrStoreAddr = 0x2006, ExitMsrLoadAddr = 0x2008,
        EntryMsrLoadAddr = 0x200A, PmlAddress = 0x200E, VirtualApic = 0x2012, ApicAccess = 0x2014, PostedInterruptDesc = 0x2016, Eptp = 0x201A,
        VmreadBitmap = 0x2026, VmwriteBitmap = 0x2028, Vpid = 0x0000, PostedInterruptVector = 0x0002;

    private const uint ActivateSecondary = 1u << 31, UseIoBitmaps = 1u << 25, UseMsrBitmaps = 1u << 28, UseTprShadow = 1u << 21, NmiWindowExiting = 1u << 22;
    private const uint ExternalInterruptExiting = 1u << 0, NmiExiting = 1u << 3, VirtualNmis = 1u << 5, PreemptionTimer = 1u << 6, PostedInterrupts = 1u << 7;
    private const uint VirtualizeApicAccesses = 1u << 0, EnableEpt = 1u << 1, EnableVpid = 1u << 5, UnrestrictedGuest = 1u << 7,
        VirtualizeX2Apic = 1u << 4, VirtualInterruptDelivery = 1u << 9, VmcsShadowing = 1u << 14, EnablePml = 1u << 17;
    private const uint HostAddressSpaceSize = 1u << 9, AckInterruptOnExit = 1u << 15, SavePreemptionTimer = 1u << 22, LoadHostPat = 1u << 19,
        LoadHostEfer = 1u << 21;
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

    private static bool FixedBits(ulong value, ulong fixed0, ulong fixed1) => (value & fixed0) == fixed0 && (value & ~fixed1 & 0xFFFF_FFFF) == 0
        && (fixed1 > 0xFFFF_FFFF || (value >> 32) == 0);

    private static bool Aligned(ulong address, int alignment, int width) => (address & (ulong)(alignment - 1)) == 0 && (address >> width) == 0;

    private static bool Canonical(ulong address) => ((long)address << 16 >> 16) == (long)address;
}
