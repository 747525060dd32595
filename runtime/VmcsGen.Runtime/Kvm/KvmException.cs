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

/// <summary>The host cannot do what was asked: no /dev/kvm, no permission, no VMX, no nested state. Says which.</summary>
public sealed class KvmUnavailableException(string message) : KvmException(message);

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
