using System;

namespace VmcsGen.Software;

// SoftwareVmx's counters: every instruction in total and per field (full and _HIGH apart), and the guest's shadow accesses.
public sealed partial class SoftwareVmx
{
    private readonly long[] _readsPerSlot;
    private readonly long[] _writesPerSlot;
    private long _reads, _writes, _ptrlds, _clears, _entries;

    public VmcsCounters Counters => new(_reads, _writes, _ptrlds, _clears, _entries);

    /// <summary>Guest VMREADs served from a shadow VMCS without a VM exit.</summary>
    public long GuestVmReads { get; private set; }

    /// <summary>Guest VMWRITEs served into a shadow VMCS without a VM exit.</summary>
    public long GuestVmWrites { get; private set; }

    /// <summary>VMREADs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long ReadsOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _readsPerSlot[i] : 0;

    /// <summary>VMWRITEs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long WritesOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _writesPerSlot[i] : 0;

    /// <summary>Zeroes every counter (total and per field).</summary>
    public void ResetCounters()
    {
        Array.Clear(_readsPerSlot);
        Array.Clear(_writesPerSlot);
        _reads = _writes = _ptrlds = _clears = _entries = 0;
        GuestVmReads = GuestVmWrites = 0;
    }

    private int CountRead(uint encoding)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _readsPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        return slot;
    }

    private int CountWrite(uint encoding)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _writesPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        return slot;
    }

    private int CounterIndex(uint encoding) => Catalog.SlotOf(encoding) is var slot and >= 0 ? (slot * 2) + (int)(encoding & 1) : -1;
}
