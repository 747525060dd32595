using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    /// <summary>libc munmap(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int MUnmap(nint address, nuint length);
}
