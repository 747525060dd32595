using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// The KVM system device (<c>/dev/kvm</c>): API version, extensions, the feature MSRs (where the VMX capability MSRs
/// live), and VM creation.
/// </summary>
public sealed class KvmSystem : IDisposable
{
    public const string DefaultPath = "/dev/kvm";

    private readonly KvmFileDescriptor _fd;

    private KvmSystem(KvmFileDescriptor fd, string path)
    {
        _fd = fd;
        Path = path;
        ApiVersion = Ioctls.Value(_fd, KvmIoctls.GetApiVersion, 0);
        if (ApiVersion != KvmIoctls.ApiVersion)
        {
            _fd.Dispose();
            throw new KvmUnavailableException($"{path}: KVM API version {ApiVersion}, expected {KvmIoctls.ApiVersion}");
        }
    }

    public string Path { get; }

    public int ApiVersion { get; }

    /// <summary>Opens the KVM device.</summary>
    /// <exception cref="KvmUnavailableException">The device does not exist, or this process may not open it (says which).</exception>
    public static KvmSystem Open(string path = DefaultPath)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new KvmUnavailableException($"KVM needs Linux; this is {RuntimeInformation.OSDescription}");
        }

        var fd = Interop.Open(path, Interop.ORdWr | Interop.OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Errno.ENOENT or Errno.ENODEV => new KvmUnavailableException($"{path} does not exist: KVM is not available on this host (no kvm module, or no virtualization support)"),
                Errno.EACCES or Errno.EPERM => new KvmUnavailableException($"{path}: permission denied; run as root or add this user to the group that owns {path} (often 'kvm')"),
                _ => new KvmException("open", path, errno),
            };
        }

        return new KvmSystem(new KvmFileDescriptor(fd, path), path);
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, otherwise the capability's value (often 1, or a size or count).</summary>
    public int CheckExtension(int capability) => Ioctls.Value(_fd, KvmIoctls.CheckExtension, capability);

    /// <summary>The MSRs KVM reports as feature MSRs (KVM_GET_MSR_FEATURE_INDEX_LIST); empty without KVM_CAP_GET_MSR_FEATURES.</summary>
    public unsafe IReadOnlyList<uint> GetMsrFeatureIndexList()
    {
        if (CheckExtension(KvmIoctls.CapGetMsrFeatures) <= 0)
        {
            return [];
        }

        // First call with room for none: KVM answers E2BIG and writes the count.
        uint count = 0;
        if (Interop.IoctlPointer(_fd.Fd, KvmIoctls.GetMsrFeatureIndexList, &count) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.E2BIG)
            {
                throw new KvmException(KvmIoctls.Name(KvmIoctls.GetMsrFeatureIndexList), _fd.ToString(), errno);
            }
        }

        var buffer = new uint[count + 1];
        buffer[0] = count;
        fixed (uint* list = buffer)
        {
            Ioctls.Pointer(_fd, KvmIoctls.GetMsrFeatureIndexList, list);
        }

        return buffer.AsSpan(1, (int)buffer[0]).ToArray();
    }

    /// <summary>Reads feature MSRs through the system fd (KVM_GET_MSRS); an MSR KVM does not report is absent from the result.</summary>
    public unsafe IReadOnlyDictionary<uint, ulong> GetFeatureMsrs(IReadOnlyList<uint> indices)
    {
        var result = new Dictionary<uint, ulong>();
        // struct kvm_msrs { u32 nmsrs; u32 pad; struct kvm_msr_entry { u32 index; u32 reserved; u64 data; } entries[1]; }
        var buffer = stackalloc ulong[3];
        foreach (var index in indices)
        {
            buffer[0] = 1;
            buffer[1] = index;
            buffer[2] = 0;
            var read = Ioctls.Pointer(_fd, KvmIoctls.GetMsrs, buffer);
            if (read == 1)
            {
                result[index] = buffer[2];
            }
        }

        return result;
    }

    /// <summary>KVM_CREATE_VM.</summary>
    public KvmVm CreateVm() => new(new KvmFileDescriptor(Ioctls.Value(_fd, KvmIoctls.CreateVm, 0), "VM"), this);

    public void Dispose() => _fd.Dispose();
}

/// <summary>A VM: creates vCPUs.</summary>
public sealed class KvmVm : IDisposable
{
    private readonly KvmFileDescriptor _fd;

    internal KvmVm(KvmFileDescriptor fd, KvmSystem system)
    {
        _fd = fd;
        System = system;
    }

    public KvmSystem System { get; }

    /// <summary>KVM_CREATE_VCPU.</summary>
    public KvmVcpu CreateVcpu(int id) => new(new KvmFileDescriptor(Ioctls.Value(_fd, KvmIoctls.CreateVcpu, id), $"vCPU {id}"), this);

    public void Dispose() => _fd.Dispose();
}

/// <summary>A vCPU: its nested VMX state.</summary>
public sealed class KvmVcpu : IDisposable
{
    private readonly KvmFileDescriptor _fd;

    internal KvmVcpu(KvmFileDescriptor fd, KvmVm vm)
    {
        _fd = fd;
        Vm = vm;
    }

    public KvmVm Vm { get; }

    /// <summary>The buffer size KVM_GET_NESTED_STATE needs (KVM_CAP_NESTED_STATE), or 0 when the host has no nested state.</summary>
    public int NestedStateSize => Vm.System.CheckExtension(KvmIoctls.CapNestedState);

    /// <summary>KVM_GET_NESTED_STATE: the vCPU's nested VMX state, parsed and validated.</summary>
    /// <exception cref="KvmUnavailableException">The host has no KVM_CAP_NESTED_STATE.</exception>
    /// <exception cref="InvalidNestedStateException">KVM returned a blob this parser does not accept (names the byte offset).</exception>
    public unsafe KvmNestedState GetNestedState()
    {
        var size = RequireNestedState();
        var buffer = new byte[size];
        BitConverter.TryWriteBytes(buffer.AsSpan(4), (uint)size);
        fixed (byte* state = buffer)
        {
            Ioctls.Pointer(_fd, KvmIoctls.GetNestedState, state);
        }

        var used = BitConverter.ToUInt32(buffer, 4);
        return KvmNestedState.Parse(buffer.AsSpan(0, (int)Math.Min(used, (uint)size)));
    }

    /// <summary>KVM_SET_NESTED_STATE. The state is serialized (and so validated) completely before anything reaches KVM.</summary>
    public unsafe void SetNestedState(KvmNestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        RequireNestedState();
        var blob = state.Serialize();
        fixed (byte* data = blob)
        {
            Ioctls.Pointer(_fd, KvmIoctls.SetNestedState, data);
        }
    }

    private int RequireNestedState()
    {
        var size = NestedStateSize;
        return size > 0
            ? size
            : throw new KvmUnavailableException("this host's KVM has no KVM_CAP_NESTED_STATE (nested virtualization is off, or the CPU has no VMX/SVM): there is no nested state to get or set");
    }

    public void Dispose() => _fd.Dispose();
}

/// <summary>ioctl calls that turn a failure into a <see cref="KvmException"/> naming the ioctl, the descriptor and errno.</summary>
internal static class Ioctls
{
    public static int Value(KvmFileDescriptor fd, nuint request, nint argument)
    {
        var result = Interop.IoctlValue(fd.Fd, request, argument);
        return result >= 0 ? result : throw new KvmException(KvmIoctls.Name(request), fd.ToString(), Marshal.GetLastPInvokeError());
    }

    public static unsafe int Pointer(KvmFileDescriptor fd, nuint request, void* argument)
    {
        var result = Interop.IoctlPointer(fd.Fd, request, argument);
        return result >= 0 ? result : throw new KvmException(KvmIoctls.Name(request), fd.ToString(), Marshal.GetLastPInvokeError());
    }
}
