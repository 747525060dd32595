using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// libc: open/ioctl/mmap/close through <see cref="Interop"/>. Each <see cref="SafeHandle"/> goes straight into the
/// <c>[LibraryImport]</c> signature, whose generated stub holds it for the duration of the call.
/// </summary>
internal sealed class LibcKvmDevice : IKvmDevice
{
    public int Open(string path, out int errno)
    {
        var fd = Interop.Open(path, Interop.ORdWr | Interop.OCloExec);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    public int Ioctl(SafeHandle fd, nuint request, nint argument, out int errno)
    {
        var result = Interop.IoctlValue(fd, request, argument);
        errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
        return result;
    }

    public int Ioctl(SafeHandle fd, nuint request, Span<byte> argument, out int errno)
    {
        var result = Interop.IoctlPointer(fd, request, ref MemoryMarshal.GetReference(argument));
        errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
        return result;
    }

    public nint Map(SafeHandle fd, nuint length, out int errno)
    {
        var address = Interop.MMap(0, length, Interop.ProtRead | Interop.ProtWrite, Interop.MapShared, fd, 0);
        errno = address == Interop.MapFailed ? Marshal.GetLastPInvokeError() : 0;
        return address == Interop.MapFailed ? 0 : address;
    }

    public void Unmap(nint address, nuint length) => Interop.MUnmap(address, length);

    public int Close(int fd) => Interop.Close(fd);
}
