using System;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// Guest memory: page-aligned native memory for KVM_SET_USER_MEMORY_REGION, owned by a SafeHandle (<see cref="GuestMemoryHandle"/>).
/// Disposing it ends its use by the caller; the native memory is freed once no VM's memslot refers to it any more (a VM
/// holds what it maps until it is disposed), so disposing it before the VM cannot leave KVM a memslot over freed memory.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    private readonly GuestMemoryHandle _memory;

    // Set by Dispose. The handle alone cannot say it: while a VM holds a reference it stays open after Dispose.
    private volatile bool _disposed;

    public GuestMemory(int size)
    {
        if (size <= 0 || (size & 0xFFF) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "Guest memory is a positive multiple of 4 KiB.");
        }

        Size = size;
        _memory = GuestMemoryHandle.Allocate((nuint)size);
    }

    public int Size { get; }

    /// <summary>The native address; zero once freed (after <see cref="Dispose"/> and the last VM using it).</summary>
    public nint Address => _memory.Address;

    public Span<byte> Bytes =>
        _disposed || _memory.IsClosed ? throw new ObjectDisposedException(nameof(GuestMemory)) : new Span<byte>((void*)_memory.Address, Size);

    public void Dispose()
    {
        _disposed = true;
        _memory.Dispose();
    }

    /// <summary>
    /// A VM maps this memory into a memslot: the handle's reference count keeps the block until <see cref="Release"/>,
    /// however early its owner disposes it. Throws <see cref="ObjectDisposedException"/> once it is disposed.
    /// </summary>
    internal void AddUser()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var added = false;
        _memory.DangerousAddRef(ref added);
    }

    /// <summary>The VM is gone (its fd closed): the block is freed here if its owner has already disposed it.</summary>
    internal void Release() => _memory.DangerousRelease();
}
