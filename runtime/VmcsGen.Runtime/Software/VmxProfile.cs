using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Software;

/// <summary>
/// Everything a <see cref="SoftwareVmx"/> answers from, in one consistent place: the VMCS revision, the field catalog,
/// VMWRITE-any, VMCS shadowing, MAXPHYADDR, the access-rights write mask, the capability MSRs, and whether VM entry
/// checks controls, host and guest state. IA32_VMX_BASIC, MISC and VMCS_ENUM are derived from the same values as the
/// catalog (<see cref="ReadMsr"/>), so they can never disagree with what VMREAD/VMWRITE accept.
/// <list type="bullet">
/// <item><see cref="Hardware"/>: a CPU as the SDM describes it, from its capability MSRs (<see cref="ReferenceCpu"/> by default).</item>
/// <item><see cref="Kvm"/>: the VMX that KVM emulates for L1: vmcs12's revision 0x11e57ed0 and field set (fields/kvm.vmcs,
/// no CR3-target values), VMWRITE to any field, the 0x1F0FF mask on segment access-rights writes, no CR3 targets.</item>
/// </list>
/// </summary>
public sealed record VmxProfile
{
    private const uint VmreadBitmap = 0x2026, VmwriteBitmap = 0x2028;

    public required string Name { get; init; }

    public required VmcsFieldCatalog Catalog { get; init; }

    /// <summary>Bits 30:0 of IA32_VMX_BASIC.</summary>
    public required uint Revision { get; init; }

    /// <summary>IA32_VMX_MISC bit 29: VMWRITE may write VM-exit information fields.</summary>
    public required bool VmwriteAny { get; init; }

    /// <summary>The 1-setting of "VMCS shadowing" is allowed: shadow VMCSes can be made current, the bitmap fields exist.</summary>
    public required bool VmcsShadowing { get; init; }

    public int PhysicalAddressWidth { get; init; } = 46;

    /// <summary>Bits kept by a VMWRITE of a segment access-rights field (KVM masks them with 0x1F0FF; hardware keeps all).</summary>
    public uint AccessRightsWriteMask { get; init; } = 0xFFFF_FFFF;

    /// <summary>The control, CR-fixed and EPT capability MSRs; BASIC, MISC and VMCS_ENUM are derived (see <see cref="ReadMsr"/>).</summary>
    public required IReadOnlyDictionary<uint, ulong> Msrs { get; init; }

    /// <summary>IA32_VMX_MISC bits other than 29 (VMWRITE-any) and 24:16 (CR3-target count), which come from this profile.</summary>
    public ulong MiscBase { get; init; }

    /// <summary>VMLAUNCH/VMRESUME check controls (VMfailValid 7), host state (8) and guest state (entry failure), SDM 26.2-26.3.</summary>
    public bool EntryChecks { get; init; } = true;

    /// <summary>A Skylake-SP server's VMX capability MSRs as QEMU's scripts/kvm/vmxcap prints them (bits checked against the SDM).</summary>
    public static IReadOnlyDictionary<uint, ulong> ReferenceCpu { get; } = new Dictionary<uint, ulong>
    {
        [VmxMsr.Basic] = 0x00DA_0400_0000_0004,
        [VmxMsr.PinBasedCtls] = 0x0000_00FF_0000_0016,
        [VmxMsr.ProcBasedCtls] = 0xFFF9_FFFE_0401_E172,
        [VmxMsr.ExitCtls] = 0x01FF_FFFF_0003_6DFF,
        [VmxMsr.EntryCtls] = 0x0003_FFFF_0000_11FF,
        [VmxMsr.Misc] = 0x0000_0000_7004_C1E7,
        [VmxMsr.Cr0Fixed0] = 0x8000_0021,
        [VmxMsr.Cr0Fixed1] = 0xFFFF_FFFF,
        [VmxMsr.Cr4Fixed0] = 0x2000,
        [VmxMsr.Cr4Fixed1] = 0x0037_67FF,
        [VmxMsr.VmcsEnum] = 0x0000_0000_0000_002E,
        [VmxMsr.ProcBasedCtls2] = 0x0077_FFFF_0000_0000,
        [VmxMsr.EptVpidCap] = 0x0000_0F01_0673_4141,
        [VmxMsr.TruePinBasedCtls] = 0x0000_00FF_0000_0016,
        [VmxMsr.TrueProcBasedCtls] = 0xFFF9_FFFE_0400_6172,
        [VmxMsr.TrueExitCtls] = 0x01FF_FFFF_0003_6DFB,
        [VmxMsr.TrueEntryCtls] = 0x0003_FFFF_0000_11FB,
        [VmxMsr.VmFunc] = 0x1,
    };

    /// <summary>
    /// Every field a CPU can have: <see cref="VmcsFieldCatalog.AllKnown"/> (the fields KVM names) and the I/O RCX, RSI, RDI
    /// and RIP exit-information fields (0x6402-0x6408, SDM Vol. 3D B.4.4), which every VMX CPU has but KVM does not name
    /// (found by the differential run: Bochs accepts them).
    /// </summary>
    private static readonly uint[] HardwareFields =
        Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => (e & 1) == 0 && VmcsFieldCatalog.AllKnown.Supports(e))
            .Concat([0x6402u, 0x6404u, 0x6406u, 0x6408u]).Order().ToArray();

    /// <summary>A CPU described by its capability MSRs: revision, VMWRITE-any, shadowing, CR3 targets and optional fields follow them.</summary>
    public static VmxProfile Hardware(IReadOnlyDictionary<uint, ulong>? msrs = null, int physicalAddressWidth = 46, string name = "hardware")
    {
        msrs ??= ReferenceCpu;
        var caps = new VmxCapabilities(msrs);
        var misc = msrs.GetValueOrDefault(VmxMsr.Misc);
        var cr3Targets = (int)((misc >> 16) & 0x1FF);
        var removed = new List<uint>();
        for (var i = Math.Min(cr3Targets, 4); i < 4; i++)
        {
            removed.Add((uint)(0x6008 + (2 * i)));
        }

        void Unless(bool present, params uint[] encodings)
        {
            if (!present)
            {
                removed.AddRange(encodings);
            }
        }

        // A field exists only when the feature it belongs to can be enabled (SDM Vol. 3C ch. 25 and Vol. 3D App. B; Bochs
        // cpu/vmcs.cc vmcs_field_supported agrees): a CPU whose MSRs do not offer a control has no field of it.
        bool Pin(uint bit) => caps.MayBeOne(VmxControl.PinBased, bit);
        bool Proc(uint bit) => caps.MayBeOne(VmxControl.PrimaryProcessorBased, bit);
        bool Secondary(int bit) => caps.MayBeOne(VmxControl.SecondaryProcessorBased, 1u << bit);
        bool Tertiary(int bit) => caps.MayBeOne(VmxControl.TertiaryProcessorBased, 1u << bit);
        bool Exit(int bit) => caps.MayBeOne(VmxControl.VmExit, 1u << bit);
        bool Entry(int bit) => caps.MayBeOne(VmxControl.VmEntry, 1u << bit);
        var tertiary = Proc(VmxCapabilities.ActivateTertiaryControls);
        var vmFunctions = Secondary(13);

        Unless(caps.VmcsShadowing, VmreadBitmap, VmwriteBitmap);
        Unless(caps.HasPreemptionTimer, 0x482E);
        Unless(Pin(VmxCapabilities.PinPostedInterrupts), 0x0002, 0x2016);
        Unless(Proc(1u << 21), 0x2012, 0x401C); // use TPR shadow: virtual-APIC address, TPR threshold
        Unless(Secondary(0), 0x2014); // virtualize APIC accesses
        Unless(Secondary(1), 0x201A, 0x2400, 0x280A, 0x280C, 0x280E, 0x2810); // EPT: EPTP, guest-physical address, PDPTEs
        Unless(Secondary(5), 0x0000); // enable VPID
        Unless(Secondary(9), 0x0810, 0x201C, 0x201E, 0x2020, 0x2022); // virtual-interrupt delivery
        Unless(Secondary(10), 0x4020, 0x4022); // PAUSE-loop exiting
        Unless(vmFunctions, 0x2018); // VM-function controls
        Unless(vmFunctions && (msrs.GetValueOrDefault(VmxMsr.VmFunc) & 1) != 0, 0x2024); // EPTP switching: the EPTP list
        Unless(Secondary(15), 0x202E); // ENCLS exiting
        Unless(Secondary(17), 0x0812, 0x200E); // PML
        Unless(Secondary(18), 0x0004, 0x202A); // EPT-violation #VE: EPTP index, #VE information address
        Unless(Secondary(20), 0x202C); // XSAVES/XRSTORS: XSS-exiting bitmap
        Unless(Secondary(25), 0x2032); // TSC scaling: TSC multiplier
        Unless(Secondary(31), 0x4024); // notify-window exiting
        Unless(tertiary, 0x2034, 0x203C); // tertiary controls (and the shared EPTP, which only such CPUs have)
        Unless(tertiary && Tertiary(4), 0x0008, 0x2042); // IPI virtualization: PID-pointer table and its last index
        Unless(Entry(14) || Exit(18), 0x2804); // guest IA32_PAT
        Unless(Entry(15) || Exit(20), 0x2806); // guest IA32_EFER
        Unless(Entry(13) || Exit(30), 0x2808); // guest IA32_PERF_GLOBAL_CTRL
        Unless(Entry(16) || Exit(23), 0x2812); // guest IA32_BNDCFGS
        Unless(Entry(18) || Exit(25), 0x2814); // guest IA32_RTIT_CTL
        Unless(Entry(20), 0x6828, 0x682A, 0x682C); // guest CET state
        Unless(Exit(19), 0x2C00); // host IA32_PAT
        Unless(Exit(21), 0x2C02); // host IA32_EFER
        Unless(Exit(12), 0x2C04); // host IA32_PERF_GLOBAL_CTRL
        Unless(Exit(28), 0x6C18, 0x6C1A, 0x6C1C); // host CET state
        return new VmxProfile
        {
            Name = name,
            Catalog = VmcsFieldCatalog.Of(HardwareFields.Where(e => !removed.Contains(e))),
            Revision = caps.Revision,
            VmwriteAny = caps.VmwriteAnyField,
            VmcsShadowing = caps.VmcsShadowing,
            PhysicalAddressWidth = physicalAddressWidth,
            Msrs = msrs,
            MiscBase = misc & ~((1ul << 29) | (0x1FFul << 16)),
        };
    }

    /// <summary>
    /// The VMX KVM emulates for its L1 (arch/x86/kvm/vmx/nested.c): vmcs12's revision and fields (the generated
    /// <c>VmcsGen.Layouts.Kvm</c> layout of fields/kvm.vmcs), VMWRITE to any field, the access-rights mask of
    /// vmcs12_write_any (0x1F0FF), no CR3-target values (vmcs12's dead space), MISC = emulated preemption-timer rate 5,
    /// EFER.LMA saved, HLT activity state. Its control MSRs are those of <see cref="ReferenceCpu"/> (what KVM offers
    /// depends on the host; KvmProbe shows yours).
    /// </summary>
    public static VmxProfile Kvm { get; } = new()
    {
        Name = "kvm",
        Catalog = VmcsFieldCatalog.Of(Layouts.Kvm.Layout.Fields.ToArray().Select(f => f.Encoding).Where(e => !VmcsEncoding.IsHighAccess(e))),
        Revision = Layouts.Kvm.Vmcs12.Revision,
        VmwriteAny = true,
        VmcsShadowing = true,
        AccessRightsWriteMask = VmcsEncoding.SegmentAccessRightsMask,
        Msrs = ReferenceCpu,
        MiscBase = 5 | (1ul << 5) | (1ul << 6),
    };

    /// <summary>
    /// What RDMSR of an IA32_VMX_* MSR returns: BASIC with this profile's revision, MISC with its VMWRITE-any bit and
    /// CR3-target count, VMCS_ENUM with the catalog's highest index, the secondary controls with "VMCS shadowing" as this
    /// profile says, the others as given. Throws for an MSR the profile has not (a #GP on real hardware).
    /// </summary>
    public ulong ReadMsr(uint index) => index switch
    {
        VmxMsr.Basic => (Msrs.GetValueOrDefault(VmxMsr.Basic) & ~0x7FFF_FFFFul) | Revision,
        VmxMsr.Misc => MiscBase | (VmwriteAny ? 1ul << 29 : 0) | ((ulong)Cr3TargetCount << 16),
        VmxMsr.VmcsEnum => (ulong)Catalog.HighestIndex << 1,
        VmxMsr.ProcBasedCtls2 => VmcsShadowing
            ? Msrs.GetValueOrDefault(index) | ((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32)
            : Msrs.GetValueOrDefault(index) & ~((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32),
        _ when Msrs.TryGetValue(index, out var value) => value,
        _ => throw new ArgumentOutOfRangeException(nameof(index), $"0x{index:X}", $"The {Name} profile has no such VMX capability MSR."),
    };

    /// <summary>CR3-target values the catalog has (CR3_TARGET_VALUE0..3 present in a row).</summary>
    public int Cr3TargetCount
    {
        get
        {
            var count = 0;
            while (count < 4 && Catalog.Supports((uint)(0x6008 + (2 * count))))
            {
                count++;
            }

            return count;
        }
    }

    /// <summary>The profile's capabilities as the rest of the runtime reads them (derived MSRs included).</summary>
    public VmxCapabilities Capabilities =>
        new(Msrs.Keys.Concat([VmxMsr.Basic, VmxMsr.Misc, VmxMsr.VmcsEnum, VmxMsr.ProcBasedCtls2]).Distinct().ToDictionary(k => k, ReadMsr));
}
