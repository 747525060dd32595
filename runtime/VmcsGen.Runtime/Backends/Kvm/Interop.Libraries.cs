namespace VmcsGen.Backends.Kvm;

internal static partial class Interop
{
    /// <summary>The native libraries the KVM backend calls (dotnet/runtime's <c>Interop.Libraries</c> convention).</summary>
    internal static class Libraries
    {
        internal const string Libc = "libc";
    }
}
