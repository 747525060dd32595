using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    internal const int ORdWr = 0x2;
    internal const int OCloExec = 0x80000;

    /// <summary>libc open(2); the path is marshalled as UTF-8.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);
}
