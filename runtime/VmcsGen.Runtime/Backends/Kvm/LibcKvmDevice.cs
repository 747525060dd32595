using System;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>libc: open/ioctl/mmap/close, with each SafeHandle held (DangerousAddRef) for the duration of its call.</summary>
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
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            var result = Interop.IoctlValue((int)fd.DangerousGetHandle(), request, argument);
            errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            return result;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    public unsafe int Ioctl(SafeHandle fd, nuint request, Span<byte> argument, out int errno)
    {
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            fixed (byte* data = argument)
            {
                var result = Interop.IoctlPointer((int)fd.DangerousGetHandle(), request, data);
                errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
                return result;
            }
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    public nint Map(SafeHandle fd, nuint length, out int errno)
    {
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            var address = Interop.Mmap(0, length, Interop.ProtRead | Interop.ProtWrite, Interop.MapShared, (int)fd.DangerousGetHandle(), 0);
            errno = address == -1 ? Marshal.GetLastPInvokeError() : 0;
            return address == -1 ? 0 : address;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    public void Unmap(nint address, nuint length) => Interop.Munmap(address, length);

    public int Close(int fd) => Interop.Close(fd);
}
