namespace VmcsGen.Software;

public static partial class VmEntryChecks
{
    // Host state.
    private const uint HostCr0 = 0x6C00, HostCr3 = 0x6C02, HostCr4 = 0x6C04, HostFsBase = 0x6C06, HostGsBase = 0x6C08, HostTrBase = 0x6C0A,
        HostGdtrBase = 0x6C0C, HostIdtrBase = 0x6C0E, HostSysenterEsp = 0x6C10, HostSysenterEip = 0x6C12, HostRip = 0x6C16,
        HostEs = 0x0C00, HostCs = 0x0C02, HostSs = 0x0C04, HostDs = 0x0C06, HostFs = 0x0C08, HostGs = 0x0C0A, HostTr = 0x0C0C,
        HostPat = 0x2C00, HostEfer = 0x2C02;

    /// <summary>
    /// SDM 26.2.2-26.2.4: host control registers, MSRs, segment and descriptor-table registers, address-space size; a failure is VMfailValid(8).
    /// </summary>
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
