using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

// SoftwareVmx's VMCS regions: their bytes in memory (the packed layout), the processor's copy of an active region, VMPTRLD's
// and VMCLEAR's effect on them, and how a field's 64-bit slot is read and written.
public sealed partial class SoftwareVmx
{
    private readonly Dictionary<ulong, Region> _regions = new();
    private readonly int[] _layoutOffsets;
    private readonly int[] _layoutSizes;
    private readonly byte[] _layoutBuffer;

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

        Memory.Write(address, new byte[4096]);
        Memory.WriteUInt32(address, (revision ?? Revision) | (shadow ? 0x8000_0000u : 0));
        _regions[address] = new Region(address, Catalog.Count) { Active = false };
    }

    /// <summary>Whether the region at <paramref name="address"/> is in the launched state (after VMLAUNCH, before VMCLEAR).</summary>
    public bool IsLaunched(ulong address) =>
        _regions.TryGetValue(address, out var region) && region.Active ? region.Launched : Memory.ReadUInt32(address + LaunchStateOffset) != 0;

    /// <summary>Reads a field of any region without an instruction (a debugger's view): not counted, no checks but the catalog.</summary>
    public ulong Peek(ulong address, uint encoding)
    {
        if (!Catalog.Supports(encoding))
        {
            throw new ArgumentOutOfRangeException(nameof(encoding), $"0x{encoding:X4}", "The field catalog does not support this encoding.");
        }

        if (!_regions.TryGetValue(address, out var region))
        {
            throw new ArgumentException($"No VMCS region at 0x{address:X}.", nameof(address));
        }

        var slot = Catalog.SlotOf(encoding);
        var raw = region.Active ? region.Fields[slot] : ReadPacked(address, slot);
        return LoadSlot(raw, encoding);
    }

    private VmxResult PtrLd(ulong address)
    {
        if (PointerChecks(address, VmxInstructionError.VmptrldInvalidAddress, VmxInstructionError.VmptrldVmxonPointer) is { } failed)
        {
            return failed;
        }

        if (!_regions.TryGetValue(address, out var region) || !region.Active)
        {
            var header = Memory.ReadUInt32(address);
            if ((header & 0x7FFF_FFFF) != Revision || ((header & 0x8000_0000) != 0 && !VmcsShadowing))
            {
                return Fail(VmxInstructionError.VmptrldIncorrectVmcsRevisionId);
            }

            region = Activate(address, header);
        }

        _current = region;
        return VmxResult.Succeed;
    }

    private VmxResult Clear(ulong address)
    {
        if (PointerChecks(address, VmxInstructionError.VmclearInvalidAddress, VmxInstructionError.VmclearVmxonPointer) is { } failed)
        {
            return failed;
        }

        if (_regions.TryGetValue(address, out var region) && region.Active)
        {
            // Write the VMCS data back to its region, clear the launch state, and forget the cached copy.
            WriteBack(region);
            region.Active = false;
        }

        Memory.WriteUInt32(address + LaunchStateOffset, 0);
        if (region is not null)
        {
            region.Launched = false;
        }

        if (_current?.Address == address)
        {
            _current = null;
        }

        return VmxResult.Succeed;
    }

    /// <summary>
    /// VMPTRLD's and VMCLEAR's pointer checks, each with its own error number: the address is 4 KiB aligned within
    /// MAXPHYADDR, then it is not the VMXON region. Null when both pass.
    /// </summary>
    private VmxResult? PointerChecks(ulong address, VmxInstructionError invalidAddress, VmxInstructionError vmxonPointer) =>
        !IsValidAddress(address) ? Fail(invalidAddress)
        : address == VmxonPointer ? Fail(vmxonPointer)
        : null;

    /// <summary>Makes a region active: its data read from memory into the processor's copy (no allocation after the first time).</summary>
    private Region Activate(ulong address, uint header)
    {
        if (!_regions.TryGetValue(address, out var region))
        {
            region = new Region(address, Catalog.Count);
            _regions[address] = region;
        }

        Memory.Read(address + FieldsOffset, _layoutBuffer);
        for (var slot = 0; slot < region.Fields.Length; slot++)
        {
            region.Fields[slot] = Unpack(_layoutBuffer.AsSpan(_layoutOffsets[slot], _layoutSizes[slot]));
        }

        region.Launched = Memory.ReadUInt32(address + LaunchStateOffset) != 0;
        region.ShadowIndicator = (header & 0x8000_0000) != 0;
        region.Active = true;
        return region;
    }

    /// <summary>Writes a region's fields to its memory in the packed layout (VMCLEAR).</summary>
    private void WriteBack(Region region)
    {
        Span<byte> value = stackalloc byte[8];
        for (var slot = 0; slot < region.Fields.Length; slot++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(value, region.Fields[slot]);
            value[.._layoutSizes[slot]].CopyTo(_layoutBuffer.AsSpan(_layoutOffsets[slot]));
        }

        Memory.Write(region.Address + FieldsOffset, _layoutBuffer);
    }

    private ulong ReadPacked(ulong address, int slot)
    {
        Span<byte> bytes = stackalloc byte[8];
        Memory.Read(address + FieldsOffset + (ulong)_layoutOffsets[slot], bytes[.._layoutSizes[slot]]);
        return Unpack(bytes[.._layoutSizes[slot]]);
    }

    private static ulong Unpack(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        2 => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes),
        4 => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        _ => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes),
    };

    private ulong MaskAccessRights(uint encoding, ulong value) =>
        Profile.AccessRightsWriteMask != 0xFFFF_FFFF && VmcsEncoding.IsSegmentAccessRights(encoding) ? value & Profile.AccessRightsWriteMask : value;

    private bool IsValidAddress(ulong address) => (address & 0xFFF) == 0 && (address >> PhysicalAddressWidth) == 0;

    private void Store(Region region, uint encoding, ulong value)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            StoreSlot(ref region.Fields[slot], encoding, value);
        }
    }

    /// <summary>VMREAD's view of a field's 64-bit slot: a _HIGH access reads bits 63:32; otherwise zero-extended by width.</summary>
    private static ulong LoadSlot(ulong slot, uint encoding) =>
        VmcsEncoding.IsHighAccess(encoding) ? slot >> 32 : slot & VmcsEncoding.AccessMask(encoding);

    /// <summary>VMWRITE into a slot: a _HIGH access replaces bits 63:32; otherwise truncated to the width.</summary>
    private static void StoreSlot(ref ulong slot, uint encoding, ulong value) =>
        slot = VmcsEncoding.IsHighAccess(encoding)
            ? (slot & 0xFFFF_FFFFul) | ((value & 0xFFFF_FFFFul) << 32)
            : value & VmcsEncoding.AccessMask(encoding);

    private sealed class Region(ulong address, int fields)
    {
        public ulong Address { get; } = address;

        public bool ShadowIndicator { get; set; }

        public bool Launched { get; set; }

        /// <summary>Loaded by VMPTRLD (the processor's copy is authoritative) until VMCLEAR writes it back.</summary>
        public bool Active { get; set; }

        /// <summary>One 64-bit slot per field of the catalog (<see cref="VmcsFieldCatalog.SlotOf"/>); a _HIGH access uses the upper half.</summary>
        public ulong[] Fields { get; } = new ulong[fields];
    }
}
