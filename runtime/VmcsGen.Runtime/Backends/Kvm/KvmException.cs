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
