using System;

namespace VmcsGen.Bochs;

/// <summary>
/// Stores bytes anywhere in conventional memory below <see cref="GuestLayout.ImageBase"/> and above the BIOS data area
/// (0x1000..0xFFFF), at CPL 0. Not recorded. For guests whose own memory map must sit at fixed low physical addresses (the
/// KvmNested launch's page directory, GDT, TSS and L2 code at 0x1000-0x9FFF); those pages are identity-mapped in both modes
/// and unused by the runner once it has left real mode. The data area is cleared per program; this range is not.
/// </summary>
public sealed record PhysicalBytes(ulong Address, byte[] Data) : GuestStep
{
    /// <summary>The range this step may write.</summary>
    public const ulong Start = 0x1000, End = GuestLayout.ImageBase;

    public override bool IsRecorded => false;

    public override string ToString() => $"PhysicalBytes {{ Address = 0x{Address:X}, {Data.Length} bytes }}";

    /// <summary>Throws <see cref="ArgumentException"/> when the bytes leave <see cref="Start"/>..<see cref="End"/>.</summary>
    public void Validate()
    {
        if (Data.Length == 0 || Address < Start || Address + (ulong)Data.Length > End)
        {
            throw new ArgumentException($"{this}: physical bytes must lie in 0x{Start:X}..0x{End:X}.");
        }
    }
}
