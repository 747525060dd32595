using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

/// <summary>
/// A software VMX processor: one logical processor's VMX instructions as the SDM describes them (Vol. 3C ch. 24-26 and
/// 31), or as KVM emulates them for L1 (<see cref="VmxProfile.Kvm"/>). Two layers:
/// <list type="bullet">
/// <item>The instruction layer, <c>Execute…</c>: VMXON, VMXOFF, VMPTRLD, VMPTRST, VMCLEAR, VMREAD, VMWRITE, VMLAUNCH,
/// VMRESUME in a <see cref="VmxContext"/> (mode, CPL, MOV-SS blocking), in or out of VMX operation, root or non-root,
/// with register or memory operands that can fault, checked in the SDM's order; every result is a
/// <see cref="InstructionOutcome"/> (VMsucceed, VMfail, #UD/#GP/#PF, a VM exit, a VM-entry failure), never a thrown exception.</item>
/// <item>The VMM's fast path (<see cref="VmRead"/>, <see cref="VmWrite"/>, <see cref="VmPtrLd"/>, <see cref="VmClear"/>,
/// <see cref="VmLaunch"/>, <see cref="VmResume"/>): the same instructions executed in VMX root operation, 64-bit mode,
/// CPL 0, register operands, returning <see cref="VmxResult"/> and allocating nothing; and
/// <see cref="NonRootVmRead"/>/<see cref="NonRootVmWrite"/>, the guest's VMREAD/VMWRITE on the current (working) VMCS:
/// "VMCS shadowing", the VMREAD/VMWRITE bitmaps in memory and the link pointer decide between a shadow access and a VM exit.</item>
/// </list>
/// VMCS regions are bytes in <see cref="Memory"/>: VMPTRLD reads the revision identifier and shadow-VMCS indicator from the
/// region's first dword and loads an inactive region's data; VMCLEAR writes the data and a clear launch state back.
/// The data format after the header is this model's own (as the SDM leaves it to the implementation): the launch state
/// at byte 8, then every catalog field packed at its width (2, 4 or 8 bytes) from byte 16, in encoding order, so the
/// whole VMCS fits the region size IA32_VMX_BASIC reports (<see cref="RegionSize"/>). Every instruction is counted, in total and per field.
/// </summary>
public sealed partial class SoftwareVmx
{
    /// <summary>The "no current VMCS" pointer value.</summary>
    public const ulong InvalidPointer = ulong.MaxValue;

    public const int LaunchStateOffset = 8;
    public const int FieldsOffset = 16;

    private const uint VmInstructionErrorEncoding = VmcsEncoding.VmInstructionError, ExitReasonEncoding = VmcsEncoding.ExitReason,
        ExitQualificationEncoding = VmcsEncoding.ExitQualification,
        ExitInstructionLengthEncoding = 0x440C, InstructionInfoEncoding = 0x440E, LinkPointerEncoding = VmcsEncoding.VmcsLinkPointer,
        ProcBasedEncoding = 0x4002, SecondaryEncoding = 0x401E, VmreadBitmapEncoding = 0x2026, VmwriteBitmapEncoding = 0x2028;

    private readonly int _linkSlot, _errorSlot, _procSlot, _secondarySlot, _vmreadBitmapSlot, _vmwriteBitmapSlot;
    private Region? _current;

    /// <summary>A processor with KVM's emulated VMX (<see cref="VmxProfile.Kvm"/>), in VMX root operation.</summary>
    public SoftwareVmx()
        : this(VmxProfile.Kvm)
    {
    }

    /// <param name="profile">What the processor answers from.</param>
    /// <param name="operation">Where it starts: outside VMX operation (VMXON first) or in VMX root operation.</param>
    /// <param name="vmxonPointer">The VMXON region when starting in VMX root operation.</param>
    /// <param name="memory">Guest-physical memory (a new one by default).</param>
    public SoftwareVmx(VmxProfile profile, VmxOperation operation = VmxOperation.Root, ulong vmxonPointer = 0x1000, PhysicalMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.PhysicalAddressWidth is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(profile), profile.PhysicalAddressWidth, "MAXPHYADDR is 32 to 52 bits.");
        }

        if (profile.Revision > 0x7FFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(profile), $"0x{profile.Revision:X8}", "A VMCS revision identifier has 31 bits.");
        }

        // The region's data: each field packed at its width (2, 4 or 8 bytes) from FieldsOffset, so a region copied by the
        // size IA32_VMX_BASIC reports (bits 44:32) carries every field.
        var catalog = profile.Catalog;
        _layoutOffsets = new int[catalog.Count];
        _layoutSizes = new int[catalog.Count];
        var offset = 0;
        for (uint e = 0; e < 0x8000; e += 2)
        {
            if (catalog.SlotOf(e) is var slot and >= 0)
            {
                _layoutOffsets[slot] = offset;
                _layoutSizes[slot] = VmcsEncoding.Width(e) switch { FieldWidth.Bits16 => 2, FieldWidth.Bits32 => 4, _ => 8 };
                offset += _layoutSizes[slot];
            }
        }

        var regionSize = (int)((profile.ReadMsr(VmxMsr.Basic) >> 32) & 0x1FFF);
        RegionSize = regionSize == 0 ? 4096 : regionSize;
        if (FieldsOffset + offset > RegionSize)
        {
            throw new ArgumentException(
                $"{catalog.Count} fields ({FieldsOffset + offset} bytes with the header) do not fit the {RegionSize}-byte VMCS region IA32_VMX_BASIC reports.",
                    nameof(profile));
        }

        _layoutBuffer = new byte[offset];

        Profile = profile;
        Memory = memory ?? new PhysicalMemory();
        Operation = operation == VmxOperation.NonRoot ? VmxOperation.Root : operation;
        VmxonPointer = operation == VmxOperation.Outside ? InvalidPointer : vmxonPointer;
        _readsPerSlot = new long[Catalog.Count * 2];
        _writesPerSlot = new long[Catalog.Count * 2];
        _linkSlot = Catalog.SlotOf(LinkPointerEncoding);
        _errorSlot = Catalog.SlotOf(VmInstructionErrorEncoding);
        _procSlot = Catalog.SlotOf(ProcBasedEncoding);
        _secondarySlot = Catalog.SlotOf(SecondaryEncoding);
        _vmreadBitmapSlot = Catalog.SlotOf(VmreadBitmapEncoding);
        _vmwriteBitmapSlot = Catalog.SlotOf(VmwriteBitmapEncoding);
    }

    /// <summary>
    /// A processor described field by field (no VM-entry checks: a VMCS store with the SDM's instruction semantics). Turning
    /// VMCS shadowing off removes the VMREAD/VMWRITE-bitmap fields, as on a CPU without it.
    /// </summary>
    public SoftwareVmx(
        VmcsFieldCatalog? catalog = null,
        uint revision = 0x11e57ed0,
        bool vmwriteAny = true,
        bool vmcsShadowing = true,
        int physicalAddressWidth = 46,
        ulong vmxonPointer = 0x1000)
        : this(Custom(catalog, revision, vmwriteAny, vmcsShadowing, physicalAddressWidth), VmxOperation.Root, vmxonPointer)
    {
    }

    private static VmxProfile Custom(VmcsFieldCatalog? catalog, uint revision, bool vmwriteAny, bool vmcsShadowing, int physicalAddressWidth)
    {
        if (physicalAddressWidth is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalAddressWidth), physicalAddressWidth, "MAXPHYADDR is 32 to 52 bits.");
        }

        if (revision > 0x7FFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(revision), $"0x{revision:X8}", "A VMCS revision identifier has 31 bits.");
        }

        catalog ??= VmcsFieldCatalog.AllKnown;
        return new VmxProfile
        {
            Name = "custom",
            Catalog = vmcsShadowing ? catalog : catalog.Without(VmreadBitmapEncoding, VmwriteBitmapEncoding),
            Revision = revision,
            VmwriteAny = vmwriteAny,
            VmcsShadowing = vmcsShadowing,
            PhysicalAddressWidth = physicalAddressWidth,
            Msrs = VmxProfile.ReferenceCpu,
            MiscBase = VmxProfile.ReferenceCpu[VmxMsr.Misc] & ~((1ul << 29) | (0x1FFul << 16)),
            EntryChecks = false,
        };
    }

    public VmxProfile Profile { get; }

    /// <summary>The VMCS region size (IA32_VMX_BASIC bits 44:32; 4096 when it reports none): the header, the launch state and every field fit in it.</summary>
    public int RegionSize { get; }

    public PhysicalMemory Memory { get; }

    public VmcsFieldCatalog Catalog => Profile.Catalog;

    public uint Revision => Profile.Revision;

    public bool VmwriteAny => Profile.VmwriteAny;

    public bool VmcsShadowing => Profile.VmcsShadowing;

    public int PhysicalAddressWidth => Profile.PhysicalAddressWidth;

    /// <summary>Outside VMX operation, root, or non-root (a guest runs on the current VMCS).</summary>
    public VmxOperation Operation { get; private set; }

    /// <summary>The VMXON region's address, which VMPTRLD and VMCLEAR refuse; <see cref="InvalidPointer"/> outside VMX operation.</summary>
    public ulong VmxonPointer { get; private set; }

    /// <summary>The current-VMCS pointer, or <see cref="InvalidPointer"/>.</summary>
    public ulong CurrentPointer => _current?.Address ?? InvalidPointer;

    /// <summary>The struct handle the engine and the generated copy loops are generic over.</summary>
    public SoftwareVmcs Vmcs => new(this);

    /// <summary>RDMSR of an IA32_VMX_* capability MSR, from the profile (consistent with the catalog).</summary>
    public ulong ReadMsr(uint index) => Profile.ReadMsr(index);

    /// <summary>VMfail(n): VMfailValid with n in the current VMCS's VM-instruction error field, VMfailInvalid without one (SDM 31.2).</summary>
    private VmxResult Fail(VmxInstructionError error)
    {
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (_errorSlot >= 0)
        {
            _current.Fields[_errorSlot] = (uint)error;
        }

        return VmxResult.FailValid(error);
    }
}
