using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    // ioctl(2) is variadic in C; each argument shape gets its own fixed, blittable signature.

    /// <summary>ioctl with an integer argument (KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_CREATE_VCPU).</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlValue(int fd, nuint request, nint argument);

    /// <summary>ioctl with a pointer to a buffer the kernel reads or fills (MSR lists, nested state).</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int IoctlPointer(int fd, nuint request, void* argument);
}
