using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// The KVM system device (<c>/dev/kvm</c>): API version, extensions, the feature MSRs (where the VMX capability MSRs
/// live), the CPUID KVM supports, and VM creation. Every call goes through an <see cref="IKvmDevice"/> (libc by default).
/// </summary>
public sealed class KvmSystem : IDisposable
{
    public const string DefaultPath = "/dev/kvm";

    private readonly KvmFileDescriptor _fd;

    private KvmSystem(KvmFileDescriptor fd, string path, IKvmDevice device)
    {
        _fd = fd;
        Path = path;
        Device = device;
        try
        {
            ApiVersion = Ioctls.Value(device, _fd, KvmIoctls.GetApiVersion, 0);
            if (ApiVersion != KvmIoctls.ApiVersion)
            {
                throw new KvmUnavailableException(KvmUnavailableReason.ApiVersionMismatch, $"{path}: KVM API version {ApiVersion}, expected {KvmIoctls.ApiVersion}");
            }
        }
        catch
        {
            _fd.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public int ApiVersion { get; }

    public IKvmDevice Device { get; }

    /// <summary>Opens the KVM device.</summary>
    /// <exception cref="KvmUnavailableException">The device does not exist, or this process may not open it (says which).</exception>
    public static KvmSystem Open(string path = DefaultPath, IKvmDevice? device = null)
    {
        device ??= IKvmDevice.Libc;
        if (device == IKvmDevice.Libc && !OperatingSystem.IsLinux())
        {
            throw new KvmUnavailableException(KvmUnavailableReason.NotLinux, $"KVM needs Linux; this is {RuntimeInformation.OSDescription}");
        }

        var fd = device.Open(path, out var errno);
        if (fd < 0)
        {
            throw errno switch
            {
                Errno.ENOENT or Errno.ENODEV => new KvmUnavailableException(KvmUnavailableReason.NoDevice, $"{path} does not exist: KVM is not available on this host (no kvm module, or no virtualization support)"),
                Errno.EACCES or Errno.EPERM => new KvmUnavailableException(KvmUnavailableReason.PermissionDenied, $"{path}: permission denied; run as root or add this user to the group that owns {path} (often 'kvm')"),
                _ => new KvmException("open", path, errno),
            };
        }

        return new KvmSystem(new KvmFileDescriptor(fd, path, device), path, device);
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, otherwise the capability's value (often 1, or a size or count).</summary>
    public int CheckExtension(int capability) => Ioctls.Value(Device, _fd, KvmIoctls.CheckExtension, capability);

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: the size of a vCPU's shared <c>struct kvm_run</c>.</summary>
    public int VcpuMmapSize => Ioctls.Value(Device, _fd, KvmIoctls.GetVcpuMmapSize, 0);

    /// <summary>The MSRs KVM reports as feature MSRs (KVM_GET_MSR_FEATURE_INDEX_LIST); empty without KVM_CAP_GET_MSR_FEATURES.</summary>
    public IReadOnlyList<uint> GetMsrFeatureIndexList()
    {
        if (CheckExtension(KvmIoctls.CapGetMsrFeatures) <= 0)
        {
            return [];
        }

        // First call with room for none: KVM answers E2BIG and writes the count.
        Span<byte> probe = stackalloc byte[4];
        if (Device.Ioctl(_fd, KvmIoctls.GetMsrFeatureIndexList, probe, out var errno) < 0 && errno != Errno.E2BIG)
        {
            throw new KvmException(KvmIoctls.Name(KvmIoctls.GetMsrFeatureIndexList), _fd.ToString(), errno);
        }

        var count = BinaryPrimitives.ReadUInt32LittleEndian(probe);
        var buffer = new byte[4 + (4 * (int)count)];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, count);
        Ioctls.Pointer(Device, _fd, KvmIoctls.GetMsrFeatureIndexList, buffer);
        var result = new uint[BinaryPrimitives.ReadUInt32LittleEndian(buffer)];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4 + (4 * i)));
        }

        return result;
    }

    /// <summary>Reads feature MSRs through the system fd (KVM_GET_MSRS); an MSR KVM does not report is absent from the result.</summary>
    public IReadOnlyDictionary<uint, ulong> GetFeatureMsrs(IReadOnlyList<uint> indices)
    {
        var result = new Dictionary<uint, ulong>();
        Span<byte> buffer = stackalloc byte[KvmStructs.MsrsHeaderSize + KvmStructs.MsrEntrySize];
        foreach (var index in indices)
        {
            buffer.Clear();
            KvmStructs.WriteMsrs(buffer, [(index, 0)]);
            if (Ioctls.Pointer(Device, _fd, KvmIoctls.GetMsrs, buffer) == 1)
            {
                result[index] = BinaryPrimitives.ReadUInt64LittleEndian(buffer[(KvmStructs.MsrsHeaderSize + 8)..]);
            }
        }

        return result;
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can give a guest (up to <paramref name="capacity"/> entries).</summary>
    public IReadOnlyList<KvmCpuidEntry> GetSupportedCpuid(int capacity = 256)
    {
        var buffer = new byte[KvmStructs.Cpuid2HeaderSize + (capacity * KvmStructs.CpuidEntrySize)];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)capacity);
        Ioctls.Pointer(Device, _fd, KvmIoctls.GetSupportedCpuid, buffer);
        return KvmStructs.ReadCpuid2(buffer);
    }

    /// <summary>KVM_CREATE_VM.</summary>
    public KvmVm CreateVm() => new(new KvmFileDescriptor(Ioctls.Value(Device, _fd, KvmIoctls.CreateVm, 0), "VM", Device), this);

    public void Dispose() => _fd.Dispose();
}

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
        Span<byte> region = stackalloc byte[KvmStructs.UserMemoryRegionSize];
        KvmStructs.WriteUserMemoryRegion(region, slot, 0, guestPhysical, (ulong)memory.Size, (ulong)memory.Address);
        memory.AddUser();
        try
        {
            Ioctls.Pointer(System.Device, _fd, KvmIoctls.SetUserMemoryRegion, region);
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
        var fd = new KvmFileDescriptor(Ioctls.Value(System.Device, _fd, KvmIoctls.CreateVcpu, id), $"vCPU {id}", System.Device);
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

/// <summary>A vCPU: registers, CPUID, MSRs, KVM_RUN and its nested VMX state.</summary>
public sealed class KvmVcpu : IDisposable
{
    private readonly KvmFileDescriptor _fd;
    private nint _run;
    private nuint _runSize;

    internal KvmVcpu(KvmFileDescriptor fd, KvmVm vm)
    {
        _fd = fd;
        Vm = vm;
    }

    public KvmVm Vm { get; }

    private IKvmDevice Device => Vm.System.Device;

    /// <summary>The buffer size KVM_GET_NESTED_STATE needs (KVM_CAP_NESTED_STATE), or 0 when the host has no nested state.</summary>
    public int NestedStateSize => Vm.System.CheckExtension(KvmIoctls.CapNestedState);

    /// <summary>KVM_SET_CPUID2.</summary>
    public void SetCpuid(IReadOnlyList<KvmCpuidEntry> entries)
    {
        var buffer = new byte[KvmStructs.Cpuid2HeaderSize + (entries.Count * KvmStructs.CpuidEntrySize)];
        KvmStructs.WriteCpuid2(buffer, entries);
        Ioctls.Pointer(Device, _fd, KvmIoctls.SetCpuid2, buffer);
    }

    /// <summary>KVM_SET_MSRS; every MSR must be taken (KVM returns how many it set).</summary>
    public void SetMsrs(IReadOnlyList<(uint Index, ulong Value)> msrs)
    {
        var buffer = new byte[KvmStructs.MsrsHeaderSize + (msrs.Count * KvmStructs.MsrEntrySize)];
        KvmStructs.WriteMsrs(buffer, msrs);
        var set = Ioctls.Pointer(Device, _fd, KvmIoctls.SetMsrs, buffer);
        if (set != msrs.Count)
        {
            throw new KvmException($"KVM_SET_MSRS on {_fd} set {set} of {msrs.Count} MSRs: MSR 0x{msrs[set].Index:X} was refused");
        }
    }

    public KvmSregs GetSregs()
    {
        var buffer = new byte[KvmSregs.Size];
        Ioctls.Pointer(Device, _fd, KvmIoctls.GetSregs, buffer);
        return KvmSregs.Read(buffer);
    }

    public void SetSregs(KvmSregs sregs)
    {
        var buffer = new byte[KvmSregs.Size];
        sregs.Write(buffer);
        Ioctls.Pointer(Device, _fd, KvmIoctls.SetSregs, buffer);
    }

    public void SetRegs(KvmRegs regs)
    {
        var buffer = new byte[KvmRegs.Size];
        regs.Write(buffer);
        Ioctls.Pointer(Device, _fd, KvmIoctls.SetRegs, buffer);
    }

    /// <summary>
    /// KVM_RUN until the next exit to user space; the exit as <c>struct kvm_run</c> describes it. <c>struct kvm_run</c> is
    /// mapped on the first call. KVM_RUN is entered again when it returns EINTR (a signal arrived: x86.c
    /// <c>vcpu_run</c> stops with KVM_EXIT_INTR; the .NET runtime signals its threads, and QEMU's <c>kvm_cpu_exec</c> too
    /// simply runs again); any other error is a <see cref="KvmException"/>.
    /// </summary>
    public unsafe KvmRunExit Run()
    {
        if (_run == 0)
        {
            _runSize = (nuint)Vm.System.VcpuMmapSize;
            _run = Device.Map(_fd, _runSize, out var errno);
            if (_run == 0)
            {
                throw new KvmException("mmap(kvm_run)", _fd.ToString(), errno);
            }
        }

        int runErrno;
        while (Device.Ioctl(_fd, KvmIoctls.Run, 0, out runErrno) < 0)
        {
            if (runErrno != Errno.EINTR)
            {
                throw new KvmException(KvmIoctls.Name(KvmIoctls.Run), _fd.ToString(), runErrno);
            }
        }

        return KvmRunExit.Read(new ReadOnlySpan<byte>((void*)_run, (int)Math.Min(_runSize, (nuint)KvmRunExit.DecodedSize)));
    }

    /// <summary>KVM_GET_NESTED_STATE: the vCPU's nested state, as its bytes with KVM's blob-only verdict (no vCPU checks on GET).</summary>
    /// <exception cref="KvmUnavailableException">The host has no KVM_CAP_NESTED_STATE.</exception>
    public KvmNestedState GetNestedState()
    {
        var size = RequireNestedState();
        var buffer = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)size);
        Ioctls.Pointer(Device, _fd, KvmIoctls.GetNestedState, buffer);
        var used = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4));
        return KvmNestedState.Parse(buffer.AsSpan(0, (int)Math.Min(used, (uint)size)));
    }

    /// <summary>KVM_SET_NESTED_STATE. The state is serialized (and so judged) completely before anything reaches KVM.</summary>
    public void SetNestedState(KvmNestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        RequireNestedState();
        Ioctls.Pointer(Device, _fd, KvmIoctls.SetNestedState, state.Serialize());
    }

    private int RequireNestedState()
    {
        var size = NestedStateSize;
        return size > 0
            ? size
            : throw new KvmUnavailableException(KvmUnavailableReason.NoNestedState, "this host's KVM has no KVM_CAP_NESTED_STATE (neither kvm_intel nor kvm_amd, or an older kernel that drops the hooks with nested off): there is no nested state to get or set");
    }

    public void Dispose()
    {
        if (_run != 0)
        {
            Device.Unmap(_run, _runSize);
            _run = 0;
        }

        _fd.Dispose();
    }
}

/// <summary>ioctl calls that turn a failure into a <see cref="KvmException"/> naming the ioctl, the descriptor and errno.</summary>
internal static class Ioctls
{
    public static int Value(IKvmDevice device, KvmFileDescriptor fd, nuint request, nint argument)
    {
        var result = device.Ioctl(fd, request, argument, out var errno);
        return result >= 0 ? result : throw new KvmException(KvmIoctls.Name(request), fd.ToString(), errno);
    }

    public static int Pointer(IKvmDevice device, KvmFileDescriptor fd, nuint request, Span<byte> argument)
    {
        var result = device.Ioctl(fd, request, argument, out var errno);
        return result >= 0 ? result : throw new KvmException(KvmIoctls.Name(request), fd.ToString(), errno);
    }
}
