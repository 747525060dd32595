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
