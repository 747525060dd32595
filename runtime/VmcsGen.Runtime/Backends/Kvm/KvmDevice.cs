using System;
using System.IO;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// The narrow seam every KVM object talks through: open, ioctl (value or pointer argument), mmap and close. The real one
/// (<see cref="Libc"/>) calls libc; tests script a fake that records each call's request and argument bytes and answers
/// as KVM would. Results follow the C convention: a negative return with the <c>errno</c> out parameter set.
/// </summary>
public interface IKvmDevice
{
    int Open(string path, out int errno);

    /// <summary>An ioctl whose argument is a value. The handle is ref-counted for the call.</summary>
    int Ioctl(SafeHandle fd, nuint request, nint argument, out int errno);

    /// <summary>An ioctl whose argument points to <paramref name="argument"/> (the struct's bytes, read and written in place).</summary>
    int Ioctl(SafeHandle fd, nuint request, Span<byte> argument, out int errno);

    /// <summary>mmap(fd, length) shared read-write; <see cref="IntPtr.Zero"/> and errno on failure.</summary>
    nint Map(SafeHandle fd, nuint length, out int errno);

    void Unmap(nint address, nuint length);

    int Close(int fd);

    /// <summary>
    /// The trimmed text of a host file such as <c>/sys/module/kvm_intel/parameters/nested</c>, <see cref="string.Empty"/>
    /// for a directory that exists, or null when it is absent or unreadable. Used only to explain what the host lacks.
    /// </summary>
    string? ReadHostFile(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : Directory.Exists(path) ? string.Empty : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The device the runtime uses: libc through P/Invoke.</summary>
    static IKvmDevice Libc { get; } = new LibcKvmDevice();
}

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

internal static partial class Interop
{
    public const int ProtRead = 1, ProtWrite = 2, MapShared = 1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);
}
