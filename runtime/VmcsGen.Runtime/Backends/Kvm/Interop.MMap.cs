using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    internal const int ProtRead = 1, ProtWrite = 2, MapShared = 1;

    /// <summary>The value mmap(2) returns on failure (<c>MAP_FAILED</c>, <c>(void *)-1</c>).</summary>
    internal const nint MapFailed = -1;

    /// <summary>libc mmap(2) of <paramref name="fd"/>, which the generated stub holds for the call.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static partial nint MMap(nint address, nuint length, int protection, int flags, SafeHandle fd, nint offset);
}
