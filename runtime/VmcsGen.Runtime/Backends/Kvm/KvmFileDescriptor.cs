using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// A file descriptor of /dev/kvm, a VM or a vCPU, owned by a <see cref="SafeHandle"/>: ref-counted across each ioctl
/// (see <see cref="IKvmDevice"/>), closed once, through the device that opened it. Any negative value is invalid; 0 is valid.
/// </summary>
public sealed class KvmFileDescriptor : SafeHandle
{
    private readonly IKvmDevice _device;

    internal KvmFileDescriptor(int fd, string description, IKvmDevice device)
        : base(new IntPtr(-1), ownsHandle: true)
    {
        SetHandle(new IntPtr(fd));
        Description = description;
        _device = device;
    }

    public string Description { get; }

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => _device.Close(Fd) == 0;

    public override string ToString() => $"{Description} (fd {Fd})";
}
