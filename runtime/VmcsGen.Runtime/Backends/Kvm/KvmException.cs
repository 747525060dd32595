using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>A failed KVM system call: names the call, the descriptor and the errno.</summary>
public class KvmException : Exception
{
    public KvmException(string call, string target, int errno)
        : base($"{call} on {target} failed: errno {errno} ({VmcsGen.Backends.Kvm.Errno.Name(errno)}: {Marshal.GetPInvokeErrorMessage(errno)})")
    {
        Call = call;
        Target = target;
        Errno = errno;
    }

    public KvmException(string message)
        : base(message)
    {
        Call = string.Empty;
        Target = string.Empty;
    }

    public string Call { get; }

    public string Target { get; }

    public int Errno { get; }
}

/// <summary>Why a <see cref="KvmUnavailableException"/> was thrown.</summary>
public enum KvmUnavailableReason
{
    /// <summary>Thrown through the message-only constructor.</summary>
    Unspecified,

    /// <summary>Not Linux.</summary>
    NotLinux,

    /// <summary>No KVM device at the path (ENOENT/ENODEV): no kvm module, or no virtualization support.</summary>
    NoDevice,

    /// <summary>The device exists but this process may not open it (EACCES/EPERM).</summary>
    PermissionDenied,

    /// <summary>KVM_GET_API_VERSION is not 12.</summary>
    ApiVersionMismatch,

    /// <summary>The CPU has no VMX, or kvm_intel is not the KVM module (an AMD host, a KVM without nested state).</summary>
    NoVmx,

    /// <summary>kvm_intel is loaded on a VMX CPU with <c>nested=0</c>: KVM offers L1 no VMX.</summary>
    NestedOff,

    /// <summary>KVM has no KVM_CAP_NESTED_STATE.</summary>
    NoNestedState,
}

/// <summary>The host cannot do what was asked: no /dev/kvm, no permission, no VMX, nested VMX off, no nested state. Says which (<see cref="Reason"/>).</summary>
public sealed class KvmUnavailableException : KvmException
{
    public KvmUnavailableException(string message)
        : this(KvmUnavailableReason.Unspecified, message)
    {
    }

    public KvmUnavailableException(KvmUnavailableReason reason, string message)
        : base(message) => Reason = reason;

    public KvmUnavailableReason Reason { get; }
}

internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, E2BIG = 7, EBADF = 9, EACCES = 13, EFAULT = 14, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOTTY = 25;

    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EINTR => "EINTR",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOTTY => "ENOTTY",
        _ => "errno",
    };
}
