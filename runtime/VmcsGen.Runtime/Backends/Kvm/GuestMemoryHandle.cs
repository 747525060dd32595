using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// Owns a <see cref="GuestMemory"/>'s native block: page-aligned, zeroed, freed by <see cref="ReleaseHandle"/> once the
/// handle is disposed and no VM holds it any more (<see cref="KvmVm.SetUserMemoryRegion"/> holds it for its memslot).
/// </summary>
internal sealed unsafe class GuestMemoryHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private const nuint PageSize = 4096;

    private GuestMemoryHandle()
        : base(ownsHandle: true)
    {
    }

    /// <summary>The native address; zero once <see cref="ReleaseHandle"/> has freed it.</summary>
    public nint Address => handle;

    public static GuestMemoryHandle Allocate(nuint size)
    {
        var memory = new GuestMemoryHandle();
        var address = NativeMemory.AlignedAlloc(size, PageSize);
        NativeMemory.Clear(address, size);
        memory.SetHandle((nint)address);
        return memory;
    }

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        handle = 0;
        return true;
    }
}
