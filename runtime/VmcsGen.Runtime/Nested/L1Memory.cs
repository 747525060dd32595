using System;
using System.Collections.Generic;

namespace VmcsGen.Nested;

/// <summary>L1's guest-physical memory, as far as VMCS regions go: what VMPTRLD reads and VMCLEAR writes back.</summary>
public sealed class L1Memory
{
    private readonly Dictionary<ulong, byte[]> _regions = new();

    public L1Memory(int regionSize) => RegionSize = regionSize;

    public int RegionSize { get; }

    public IReadOnlyDictionary<ulong, byte[]> Regions => _regions;

    /// <summary>Writes a zeroed VMCS region with a revision identifier at <paramref name="address"/>, as L1 does before VMPTRLD.</summary>
    public void CreateRegion(ulong address, uint revision)
    {
        var bytes = new byte[RegionSize];
        BitConverter.TryWriteBytes(bytes, revision & 0x7FFF_FFFF);
        _regions[address] = bytes;
    }

    public bool TryGet(ulong address, out byte[] region) => _regions.TryGetValue(address, out region!);

    /// <summary>Replaces every region with a copy of <paramref name="regions"/> (KVM_SET_NESTED_STATE).</summary>
    internal void Replace(IReadOnlyDictionary<ulong, byte[]> regions)
    {
        _regions.Clear();
        foreach (var (address, bytes) in regions)
        {
            _regions[address] = (byte[])bytes.Clone();
        }
    }

    internal Dictionary<ulong, byte[]> Copy()
    {
        var copy = new Dictionary<ulong, byte[]>();
        foreach (var (address, bytes) in _regions)
        {
            copy[address] = (byte[])bytes.Clone();
        }

        return copy;
    }
}
