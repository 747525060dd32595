using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// Guest memory: page-aligned native memory for KVM_SET_USER_MEMORY_REGION. Disposing it ends its use by the caller; the
/// native memory is freed once no VM's memslot refers to it any more (a VM holds what it maps until it is disposed), so
/// disposing it before the VM cannot leave KVM a memslot over freed memory.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    private readonly object _gate = new();
    private bool _disposed;
    private int _users;

    public GuestMemory(int size)
    {
        if (size <= 0 || (size & 0xFFF) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "Guest memory is a positive multiple of 4 KiB.");
        }

        Size = size;
        Address = (nint)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear((void*)Address, (nuint)size);
    }

    public int Size { get; }

    /// <summary>The native address; zero once freed (after <see cref="Dispose"/> and the last VM using it).</summary>
    public nint Address { get; private set; }

    public Span<byte> Bytes => _disposed || Address == 0 ? throw new ObjectDisposedException(nameof(GuestMemory)) : new Span<byte>((void*)Address, Size);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            FreeIfUnused();
        }
    }

    /// <summary>A VM maps this memory into a memslot: keep it until <see cref="Release"/>.</summary>
    internal void AddUser()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _users++;
        }
    }

    /// <summary>The VM is gone (its fd closed): free the memory if its owner has disposed it.</summary>
    internal void Release()
    {
        lock (_gate)
        {
            _users--;
            FreeIfUnused();
        }
    }

    private void FreeIfUnused()
    {
        if (_disposed && _users == 0 && Address != 0)
        {
            NativeMemory.AlignedFree((void*)Address);
            Address = 0;
        }
    }
}
