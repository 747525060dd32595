using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

/// <summary>
/// Guest-physical memory of the model, in 4 KiB pages created on first touch (zeroed). VMCS regions, VMXON regions,
/// the VMREAD/VMWRITE bitmaps and memory operands live here. Pages marked not present make a memory operand fault (#PF).
/// </summary>
public sealed class PhysicalMemory
{
    private readonly Dictionary<ulong, byte[]> _pages = new();
    private readonly HashSet<ulong> _notPresent = new();

    /// <summary>Makes accesses of memory operands in this page fault with #PF (linear = physical in this model).</summary>
    public void MarkNotPresent(ulong address) => _notPresent.Add(address & ~0xFFFul);

    public void MarkPresent(ulong address) => _notPresent.Remove(address & ~0xFFFul);

    /// <summary>Whether an operand access of <paramref name="size"/> bytes at <paramref name="address"/> faults.</summary>
    public bool Faults(ulong address, int size) =>
        _notPresent.Count != 0 && (_notPresent.Contains(address & ~0xFFFul) || _notPresent.Contains((address + (ulong)size - 1) & ~0xFFFul));

    public void Read(ulong address, Span<byte> destination)
    {
        for (var i = 0; i < destination.Length;)
        {
            var at = address + (ulong)i;
            var offset = (int)(at & 0xFFF);
            var count = Math.Min(destination.Length - i, 4096 - offset);
            if (_pages.TryGetValue(at & ~0xFFFul, out var page))
            {
                page.AsSpan(offset, count).CopyTo(destination.Slice(i, count));
            }
            else
            {
                destination.Slice(i, count).Clear();
            }

            i += count;
        }
    }

    public void Write(ulong address, ReadOnlySpan<byte> source)
    {
        for (var i = 0; i < source.Length;)
        {
            var at = address + (ulong)i;
            var offset = (int)(at & 0xFFF);
            var count = Math.Min(source.Length - i, 4096 - offset);
            source.Slice(i, count).CopyTo(Page(at).AsSpan(offset, count));
            i += count;
        }
    }

    public ulong ReadUInt64(ulong address)
    {
        Span<byte> bytes = stackalloc byte[8];
        Read(address, bytes);
        return BitConverter.ToUInt64(bytes);
    }

    public uint ReadUInt32(ulong address)
    {
        Span<byte> bytes = stackalloc byte[4];
        Read(address, bytes);
        return BitConverter.ToUInt32(bytes);
    }

    public void WriteUInt64(ulong address, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BitConverter.TryWriteBytes(bytes, value);
        Write(address, bytes);
    }

    public void WriteUInt32(ulong address, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, value);
        Write(address, bytes);
    }

    /// <summary>Bit <paramref name="bit"/> of the bitmap page at <paramref name="address"/> (no allocation for an untouched page: reads 0).</summary>
    public bool Bit(ulong address, uint bit) =>
        _pages.TryGetValue((address + (bit >> 3)) & ~0xFFFul, out var page) && (page[(int)((address + (bit >> 3)) & 0xFFF)] & (1 << (int)(bit & 7))) != 0;

    /// <summary>Copies <paramref name="count"/> bytes, as software copying a VMCS region would.</summary>
    public void Copy(ulong from, ulong to, int count)
    {
        var buffer = new byte[count];
        Read(from, buffer);
        Write(to, buffer);
    }

    private byte[] Page(ulong address)
    {
        var key = address & ~0xFFFul;
        if (!_pages.TryGetValue(key, out var page))
        {
            page = new byte[4096];
            _pages[key] = page;
        }

        return page;
    }
}
