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
    private readonly long[] _readsPerEncoding = new long[0x8000];
    private readonly long[] _writesPerEncoding = new long[0x8000];
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

    public long ReadsOf(uint encoding) => encoding < 0x8000 ? _readsPerEncoding[encoding] : 0;

    public long WritesOf(uint encoding) => encoding < 0x8000 ? _writesPerEncoding[encoding] : 0;

    /// <summary>Zeroes every counter (total and per field).</summary>
    public void ResetCounters()
    {
        Array.Clear(_readsPerEncoding);
        Array.Clear(_writesPerEncoding);
        _reads = _writes = _ptrlds = _clears = _entries = 0;
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

        _regions[address] = new Region(address, revision ?? Revision, shadow);
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
        if (encoding < 0x8000)
        {
            _readsPerEncoding[encoding]++;
        }

        value = 0;
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        value = Load(_current, encoding);
        return VmxResult.Succeed;
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        _writes++;
        if (encoding < 0x8000)
        {
            _writesPerEncoding[encoding]++;
        }

        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type(encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return Fail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        Store(_current, encoding, value);
        return VmxResult.Succeed;
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
            _current.Fields[VmInstructionErrorEncoding >> 1] = (uint)error;
        }

        return VmxResult.FailValid(error);
    }

    private const uint VmInstructionErrorEncoding = 0x4400;

    private bool IsValidAddress(ulong address) => (address & 0xFFF) == 0 && (address >> PhysicalAddressWidth) == 0;

    private Region GetRegion(ulong address) =>
        _regions.TryGetValue(address, out var region)
            ? region
            : throw new ArgumentException($"No VMCS region at 0x{address:X}.", nameof(address));

    private static ulong Load(Region region, uint encoding)
    {
        var slot = region.Fields[encoding >> 1];
        if (VmcsEncoding.IsHighAccess(encoding))
        {
            return slot >> 32;
        }

        return slot & VmcsEncoding.AccessMask(encoding);
    }

    private static void Store(Region region, uint encoding, ulong value)
    {
        ref var slot = ref region.Fields[encoding >> 1];
        if (VmcsEncoding.IsHighAccess(encoding))
        {
            slot = (slot & 0xFFFF_FFFFul) | ((value & 0xFFFF_FFFFul) << 32);
        }
        else
        {
            slot = value & VmcsEncoding.AccessMask(encoding);
        }
    }

    private sealed class Region(ulong address, uint revisionId, bool shadowIndicator)
    {
        public ulong Address { get; } = address;

        public uint RevisionId { get; } = revisionId;

        public bool ShadowIndicator { get; } = shadowIndicator;

        public bool Launched { get; set; }

        /// <summary>One 64-bit slot per full encoding (index = encoding >> 1); a _HIGH access uses the upper half.</summary>
        public ulong[] Fields { get; } = new ulong[0x4000];
    }
}
