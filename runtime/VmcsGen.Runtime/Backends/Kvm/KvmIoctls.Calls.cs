using System;

namespace VmcsGen.Backends.Kvm;

/// <summary>The ioctls called through a device: a failure becomes a <see cref="KvmException"/> naming the ioctl, the descriptor and errno.</summary>
internal static partial class KvmIoctls
{
    public static int Value(IKvmDevice device, KvmFileDescriptor fd, nuint request, nint argument)
    {
        var result = device.Ioctl(fd, request, argument, out var errno);
        return result >= 0 ? result : throw new KvmException(Name(request), fd.ToString(), errno);
    }

    public static int Pointer(IKvmDevice device, KvmFileDescriptor fd, nuint request, Span<byte> argument)
    {
        var result = device.Ioctl(fd, request, argument, out var errno);
        return result >= 0 ? result : throw new KvmException(Name(request), fd.ToString(), errno);
    }
}
