using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

/// <summary>
/// An exact software model of a logical processor in VMX root operation, for the VMCS instructions: VMPTRLD, VMCLEAR,
/// VMREAD, VMWRITE, and the launch-state checks of VMLAUNCH/VMRESUME (no guest runs). Outcomes and error numbers follow
/// the SDM (Vol. 3C ch. 31) and tests/Reference/vmx-errors.tsv; a failure is a <see cref="VmxResult"/>, never an
/// exception. Every instruction is counted, in total and per field encoding.
/// </summary>
public sealed class SoftwareVmx
{
    /// <summary>The "no current VMCS" pointer value.</summary>
    public const ulong InvalidPointer = ulong.MaxValue;

    private readonly Dictionary<ulong, Region> _regions = new();
    private readonly long[] _readsPerSlot;
    private readonly long[] _writesPerSlot;
    private Region? _current;
    private long _reads, _writes, _ptrlds, _clears, _entries;

    /// <param name="catalog">The fields this CPU supports; default: every field KVM knows.</param>
    /// <param name="revision">The VMCS revision identifier this CPU reports in IA32_VMX_BASIC.</param>
    /// <param name="vmwriteAny">IA32_VMX_MISC bit 29: VMWRITE may write exit-information fields.</param>
    /// <param name="vmcsShadowing">The CPU supports VMCS shadowing (VMPTRLD accepts a region with the shadow indicator).</param>
    /// <param name="physicalAddressWidth">MAXPHYADDR: operands at or above 2^width are invalid addresses.</param>
    /// <param name="vmxonPointer">The VMXON region's address, which VMPTRLD and VMCLEAR refuse.</param>
    public SoftwareVmx(
        VmcsFieldCatalog? catalog = null,
        uint revision = 0x11e57ed0,
        bool vmwriteAny = true,
        bool vmcsShadowing = true,
        int physicalAddressWidth = 46,
        ulong vmxonPointer = 0x1000)
    {
        if (physicalAddressWidth is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalAddressWidth), physicalAddressWidth, "MAXPHYADDR is 32 to 52 bits.");
        }

        if (revision > 0x7FFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(revision), $"0x{revision:X8}", "A VMCS revision identifier has 31 bits.");
        }

        Catalog = catalog ?? VmcsFieldCatalog.AllKnown;
        _readsPerSlot = new long[Catalog.Count * 2];
        _writesPerSlot = new long[Catalog.Count * 2];
        Revision = revision;
        VmwriteAny = vmwriteAny;
        VmcsShadowing = vmcsShadowing;
        PhysicalAddressWidth = physicalAddressWidth;
        VmxonPointer = vmxonPointer;
    }

    public VmcsFieldCatalog Catalog { get; }

    public uint Revision { get; }

    public bool VmwriteAny { get; }

    public bool VmcsShadowing { get; }

    public int PhysicalAddressWidth { get; }

    public ulong VmxonPointer { get; }

    /// <summary>The current-VMCS pointer, or <see cref="InvalidPointer"/>.</summary>
    public ulong CurrentPointer => _current?.Address ?? InvalidPointer;

    public VmcsCounters Counters => new(_reads, _writes, _ptrlds, _clears, _entries);

    /// <summary>The struct handle the engine and the generated copy loops are generic over.</summary>
    public SoftwareVmcs Vmcs => new(this);

    /// <summary>VMREADs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long ReadsOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _readsPerSlot[i] : 0;

    /// <summary>VMWRITEs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long WritesOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _writesPerSlot[i] : 0;

    private int CounterIndex(uint encoding) => Catalog.SlotOf(encoding) is var slot and >= 0 ? (slot * 2) + (int)(encoding & 1) : -1;


    /// <summary>Zeroes every counter (total and per field).</summary>
    public void ResetCounters()
    {
        Array.Clear(_readsPerSlot);
        Array.Clear(_writesPerSlot);
        _reads = _writes = _ptrlds = _clears = _entries = 0;
        GuestVmReads = GuestVmWrites = 0;
    }

    /// <summary>
    /// Prepares a VMCS region in memory as software does before VMPTRLD: zeroed, with a revision identifier (this CPU's
    /// unless given) and the shadow-VMCS indicator. Not a VMX instruction; not counted.
    /// </summary>
    public void CreateRegion(ulong address, bool shadow = false, uint? revision = null)
    {
        if (_regions.ContainsKey(address))
        {
            throw new InvalidOperationException($"A VMCS region already exists at 0x{address:X}.");
        }

        _regions[address] = new Region(address, revision ?? Revision, shadow, Catalog.Count);
    }

    /// <summary>Whether the region at <paramref name="address"/> is in the launched state (after VMLAUNCH, before VMCLEAR).</summary>
    public bool IsLaunched(ulong address) => GetRegion(address).Launched;

    /// <summary>Reads a field of any region without an instruction (a debugger's view): not counted, no checks but the catalog.</summary>
    public ulong Peek(ulong address, uint encoding)
    {
        if (!Catalog.Supports(encoding))
        {
            throw new ArgumentOutOfRangeException(nameof(encoding), $"0x{encoding:X4}", "The field catalog does not support this encoding.");
        }

        return Load(GetRegion(address), encoding);
    }

    public VmxResult VmPtrLd(ulong address)
    {
        _ptrlds++;
        if (!IsValidAddress(address))
        {
            return Fail(VmxInstructionError.VmptrldInvalidAddress);
        }

        if (address == VmxonPointer)
        {
            return Fail(VmxInstructionError.VmptrldVmxonPointer);
        }

        if (!_regions.TryGetValue(address, out var region) || region.RevisionId != Revision || (region.ShadowIndicator && !VmcsShadowing))
        {
            return Fail(VmxInstructionError.VmptrldIncorrectVmcsRevisionId);
        }

        _current = region;
        return VmxResult.Succeed;
    }

    public VmxResult VmClear(ulong address)
    {
        _clears++;
        if (!IsValidAddress(address))
        {
            return Fail(VmxInstructionError.VmclearInvalidAddress);
        }

        if (address == VmxonPointer)
        {
            return Fail(VmxInstructionError.VmclearVmxonPointer);
        }

        if (_regions.TryGetValue(address, out var region))
        {
            region.Launched = false;
        }

        if (_current?.Address == address)
        {
            _current = null;
        }

        return VmxResult.Succeed;
    }

    public VmxResult VmRead(uint encoding, out ulong value)
    {
        _reads++;
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _readsPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        value = 0;
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (slot < 0)
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        value = LoadSlot(_current.Fields[slot], encoding);
        return VmxResult.Succeed;
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        _writes++;
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _writesPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (slot < 0)
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type(encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return Fail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        StoreSlot(ref _current.Fields[slot], encoding, value);
        return VmxResult.Succeed;
    }

    /// <summary>
    /// VMREAD by the guest in VMX non-root operation with VMCS shadowing, once the VMREAD bitmap let it through: reads the
    /// VMCS whose address is in the current VMCS's link pointer (which must be a shadow VMCS). Not counted as an
    /// instruction of this processor's VMM; counted in <see cref="GuestVmReads"/>.
    /// </summary>
    public VmxResult GuestVmRead(uint encoding, out ulong value)
    {
        GuestVmReads++;
        value = 0;
        if (LinkedShadow() is not { } shadow)
        {
            return VmxResult.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
        }

        value = Load(shadow, encoding);
        return VmxResult.Succeed;
    }

    /// <summary>VMWRITE by the guest through VMCS shadowing (see <see cref="GuestVmRead"/>).</summary>
    public VmxResult GuestVmWrite(uint encoding, ulong value)
    {
        GuestVmWrites++;
        if (LinkedShadow() is not { } shadow)
        {
            return VmxResult.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type(encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return VmxResult.FailValid(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        Store(shadow, encoding, value);
        return VmxResult.Succeed;
    }

    /// <summary>Guest VMREADs served from a shadow VMCS without a VM exit.</summary>
    public long GuestVmReads { get; private set; }

    /// <summary>Guest VMWRITEs served into a shadow VMCS without a VM exit.</summary>
    public long GuestVmWrites { get; private set; }

    private const uint VmcsLinkPointerEncoding = 0x2800;

    private Region? LinkedShadow()
    {
        if (_current is null || !Catalog.Supports(VmcsLinkPointerEncoding))
        {
            return null;
        }

        var link = _current.Fields[Catalog.SlotOf(VmcsLinkPointerEncoding)];
        return _regions.TryGetValue(link, out var shadow) && shadow.ShadowIndicator ? shadow : null;
    }

    /// <summary>VMLAUNCH's VMCS checks: a current, non-shadow VMCS whose launch state is clear; it becomes launched.</summary>
    public VmxResult VmLaunch()
    {
        _entries++;
        if (_current is null || _current.ShadowIndicator)
        {
            return VmxResult.FailInvalid;
        }

        if (_current.Launched)
        {
            return Fail(VmxInstructionError.VmlaunchNonClearVmcs);
        }

        _current.Launched = true;
        return VmxResult.Succeed;
    }

    /// <summary>VMRESUME's VMCS checks: a current, non-shadow VMCS in the launched state.</summary>
    public VmxResult VmResume()
    {
        _entries++;
        if (_current is null || _current.ShadowIndicator)
        {
            return VmxResult.FailInvalid;
        }

        return _current.Launched ? VmxResult.Succeed : Fail(VmxInstructionError.VmresumeNonLaunchedVmcs);
    }

    /// <summary>
    /// VMfail(n): VMfailValid with the number stored in VM_INSTRUCTION_ERROR when there is a current VMCS, VMfailInvalid
    /// otherwise (SDM Vol. 3C §31.2).
    /// </summary>
    private VmxResult Fail(VmxInstructionError error)
    {
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (Catalog.Supports(VmInstructionErrorEncoding))
        {
            _current.Fields[Catalog.SlotOf(VmInstructionErrorEncoding)] = (uint)error;
        }

        return VmxResult.FailValid(error);
    }

    private const uint VmInstructionErrorEncoding = 0x4400;

    private bool IsValidAddress(ulong address) => (address & 0xFFF) == 0 && (address >> PhysicalAddressWidth) == 0;

    private Region GetRegion(ulong address) =>
        _regions.TryGetValue(address, out var region)
            ? region
            : throw new ArgumentException($"No VMCS region at 0x{address:X}.", nameof(address));

    private ulong Load(Region region, uint encoding) => LoadSlot(region.Fields[Catalog.SlotOf(encoding)], encoding);

    private void Store(Region region, uint encoding, ulong value) => StoreSlot(ref region.Fields[Catalog.SlotOf(encoding)], encoding, value);

    /// <summary>VMREAD's view of a field's 64-bit slot: a _HIGH access reads bits 63:32; otherwise zero-extended by width.</summary>
    private static ulong LoadSlot(ulong slot, uint encoding) =>
        VmcsEncoding.IsHighAccess(encoding) ? slot >> 32 : slot & VmcsEncoding.AccessMask(encoding);

    /// <summary>VMWRITE into a slot: a _HIGH access replaces bits 63:32; otherwise truncated to the width.</summary>
    private static void StoreSlot(ref ulong slot, uint encoding, ulong value) =>
        slot = VmcsEncoding.IsHighAccess(encoding)
            ? (slot & 0xFFFF_FFFFul) | ((value & 0xFFFF_FFFFul) << 32)
            : value & VmcsEncoding.AccessMask(encoding);

    private sealed class Region(ulong address, uint revisionId, bool shadowIndicator, int fields)
    {
        public ulong Address { get; } = address;

        public uint RevisionId { get; } = revisionId;

        public bool ShadowIndicator { get; } = shadowIndicator;

        public bool Launched { get; set; }

        /// <summary>One 64-bit slot per field of the catalog (<see cref="VmcsFieldCatalog.SlotOf"/>); a _HIGH access uses the upper half.</summary>
        public ulong[] Fields { get; } = new ulong[fields];
    }
}
