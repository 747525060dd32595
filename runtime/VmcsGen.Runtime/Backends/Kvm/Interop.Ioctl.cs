using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    // ioctl(2) is variadic in C; each argument shape gets its own fixed, blittable signature. The descriptor is passed as
    // its SafeHandle: the generated stub holds it (DangerousAddRef/DangerousRelease) for the duration of the call.

    /// <summary>ioctl with an integer argument (KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int IoctlValue(SafeHandle fd, nuint request, nint argument);

    /// <summary>
    /// ioctl with a pointer to a buffer the kernel reads or fills (MSR lists, nested state): <paramref name="argument"/> is
    /// the buffer's first byte, pinned by the generated stub for the call (a null reference for an empty buffer).
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int IoctlPointer(SafeHandle fd, nuint request, ref byte argument);
}
