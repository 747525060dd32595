using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    public const int ORdWr = 0x2;
    public const int OCloExec = 0x80000;

    /// <summary>libc open(2); the path is marshalled as UTF-8.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);
}
