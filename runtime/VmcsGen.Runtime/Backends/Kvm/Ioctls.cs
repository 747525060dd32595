using System;

namespace VmcsGen.Backends.Kvm;

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
