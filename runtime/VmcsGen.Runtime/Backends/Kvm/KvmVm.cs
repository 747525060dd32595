using System;
using System.Collections.Generic;

namespace VmcsGen.Backends.Kvm;

/// <summary>A VM: guest memory and vCPUs. It keeps the <see cref="GuestMemory"/> its memslots use alive until it is disposed.</summary>
public sealed class KvmVm : IDisposable
{
    private readonly KvmFileDescriptor _fd;
    private readonly List<GuestMemory> _memory = [];

    internal KvmVm(KvmFileDescriptor fd, KvmSystem system)
    {
        _fd = fd;
        System = system;
    }

    public KvmSystem System { get; }

    /// <summary>KVM_SET_USER_MEMORY_REGION: maps <paramref name="memory"/> into the guest at <paramref name="guestPhysical"/>.</summary>
    public void SetUserMemoryRegion(uint slot, ulong guestPhysical, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        memory.AddUser();
        try
        {
            Span<byte> region = stackalloc byte[KvmStructs.UserMemoryRegionSize];
            KvmStructs.WriteUserMemoryRegion(region, slot, 0, guestPhysical, (ulong)memory.Size, (ulong)memory.Address);
            KvmIoctls.Pointer(System.Device, _fd, KvmIoctls.SetUserMemoryRegion, region);
        }
        catch
        {
            memory.Release();
            throw;
        }

        lock (_memory)
        {
            _memory.Add(memory);
        }
    }

    /// <summary>KVM_CREATE_VCPU; the vCPU's <c>struct kvm_run</c> is mapped on its first <see cref="KvmVcpu.Run"/>, not here.</summary>
    public KvmVcpu CreateVcpu(int id)
    {
        var fd = new KvmFileDescriptor(KvmIoctls.Value(System.Device, _fd, KvmIoctls.CreateVcpu, id), $"vCPU {id}", System.Device);
        try
        {
            return new KvmVcpu(fd, this);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Closes the VM fd (KVM drops its memslots with the VM), then lets go of the guest memory they used.</summary>
    public void Dispose()
    {
        _fd.Dispose();
        GuestMemory[] memory;
        lock (_memory)
        {
            memory = [.. _memory];
            _memory.Clear();
        }

        foreach (var m in memory)
        {
            m.Release();
        }
    }
}
