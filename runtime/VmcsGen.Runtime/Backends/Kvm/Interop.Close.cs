using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    /// <summary>libc close(2). Called only from <see cref="KvmFileDescriptor"/>'s <c>ReleaseHandle</c>, so it takes the raw fd.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
