namespace VmcsGen.Software;

public static partial class VmEntryChecks
{
    // Guest state.
    private const uint GuestCr0 = 0x6800, GuestCr4 = 0x6804, GuestRflags = 0x6820, GuestActivity = 0x4826, GuestInterruptibility = 0x4824,
        GuestPendingDebug = 0x6822, LinkPointer = 0x2800, GuestSsAr = 0x4818, GuestTrAr = 0x4822, GuestDebugCtl = 0x2802, GuestEfer = 0x2806;

    /// <summary>
    /// SDM 26.3.1: the guest-state checks modelled; a failure is a VM-entry failure exit, reason 33 (qualification 4 for the VMCS link pointer).
    /// </summary>
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
                return EntryCheckResult.Guest("26.3.1.1: a loaded guest IA32_EFER has no reserved bit, LMA = \"IA-32e mode guest\", " +
                    "and LMA = LME when CR0.PG is set");
            }
        }

        var rflags = vmcs.Read(GuestRflags);
        if ((rflags & 0xFFFF_FFFF_FFC0_8028ul) != 0 || (rflags & 2) == 0 || ((ia32e || (cr0 & 1) == 0) && (rflags & 0x2_0000) != 0))
        {
            return EntryCheckResult.Guest($"26.3.1.4: guest RFLAGS 0x{rflags:X}: bits 63:22, 15, 5 and 3 clear, bit 1 set, VM clear in IA-32e mode or with " +
                "CR0.PE = 0");
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
            return EntryCheckResult.Guest($"26.3.1.5: interruptibility state 0x{interruptibility:X}: bits 31:5 clear, not both STI and MOV-SS blocking, " +
                "no STI blocking with IF = 0");
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
                    return EntryCheckResult.Guest("26.3.1.5: the VMCS the link pointer references has this processor's revision and a shadow-VMCS indicator " +
                        "equal to \"VMCS shadowing\"", 4);
                }
            }
        }

        return EntryCheckResult.Pass;
    }

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
}
