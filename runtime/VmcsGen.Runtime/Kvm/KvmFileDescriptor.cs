using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>A KVM file descriptor. fd 0 is valid; only a negative value is invalid. Only <see cref="ReleaseHandle"/> closes.</summary>
public sealed class KvmFileDescriptor : SafeHandle
{
    internal KvmFileDescriptor(int fd, string description)
        : base(new IntPtr(-1), ownsHandle: true)
    {
        SetHandle(new IntPtr(fd));
        Description = description;
    }

    /// <summary>What the descriptor refers to, for messages (<c>/dev/kvm</c>, <c>VM</c>, <c>vCPU 0</c>).</summary>
    public string Description { get; } = "KVM fd";

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Interop.Close(Fd) == 0;

    public override string ToString() => $"{Description} (fd {Fd})";
}
