namespace VmcsGen.Software;

/// <summary>VM-exit basic reasons of the VMX instructions (SDM Vol. 3D Appendix C).</summary>
public static class VmxExitReason
{
    public const uint VmClear = 19, VmLaunch = 20, VmPtrLd = 21, VmPtrSt = 22, VmRead = 23, VmResume = 24, VmWrite = 25, VmxOff = 26, VmxOn = 27;

    /// <summary>VM-entry failure due to invalid guest state.</summary>
    public const uint InvalidGuestState = 33;

    /// <summary>VM-entry failure due to MSR loading.</summary>
    public const uint MsrLoading = 34;

    public const uint EntryFailureBit = 0x8000_0000;
}
