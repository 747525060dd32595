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
            ApiVersion = KvmIoctls.Value(device, _fd, KvmIoctls.GetApiVersion, 0);
            if (ApiVersion != KvmIoctls.ApiVersion)
            {
                throw new KvmUnavailableException(
                    KvmUnavailableReason.ApiVersionMismatch, $"{path}: KVM API version {ApiVersion}, expected {KvmIoctls.ApiVersion}");
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
                Errno.ENOENT or Errno.ENODEV => new KvmUnavailableException(
                    KvmUnavailableReason.NoDevice,
                    $"{path} does not exist: KVM is not available on this host (no kvm module, or no virtualization support)"),
                Errno.EACCES or Errno.EPERM => new KvmUnavailableException(
                    KvmUnavailableReason.PermissionDenied,
                    $"{path}: permission denied; run as root or add this user to the group that owns {path} (often 'kvm')"),
                _ => new KvmException("open", path, errno),
            };
        }

        return new KvmSystem(new KvmFileDescriptor(fd, path, device), path, device);
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, otherwise the capability's value (often 1, or a size or count).</summary>
    public int CheckExtension(int capability) => KvmIoctls.Value(Device, _fd, KvmIoctls.CheckExtension, capability);

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: the size of a vCPU's shared <c>struct kvm_run</c>.</summary>
    public int VcpuMmapSize => KvmIoctls.Value(Device, _fd, KvmIoctls.GetVcpuMmapSize, 0);

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
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.GetMsrFeatureIndexList, buffer);
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
            if (KvmIoctls.Pointer(Device, _fd, KvmIoctls.GetMsrs, buffer) == 1)
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
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.GetSupportedCpuid, buffer);
        return KvmStructs.ReadCpuid2(buffer);
    }

    /// <summary>KVM_CREATE_VM.</summary>
    public KvmVm CreateVm() => new(new KvmFileDescriptor(KvmIoctls.Value(Device, _fd, KvmIoctls.CreateVm, 0), "VM", Device), this);

    public void Dispose() => _fd.Dispose();
}
