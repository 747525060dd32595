using System;
using System.Collections.Generic;

namespace VmcsGen;

/// <summary>
/// Which VMCS fields a (modelled) CPU supports, by full-access encoding; the _HIGH form of a supported 64-bit field is
/// supported too. A catalog without a feature's fields models a CPU that lacks the feature.
/// </summary>
public sealed class VmcsFieldCatalog
{
    // Declared before AllKnown: static fields initialise in textual order.
    private static readonly uint[] KnownEncodings =
    [
        0x0000, 0x0002, 0x0008,
        0x0800, 0x0802, 0x0804, 0x0806, 0x0808, 0x080A, 0x080C, 0x080E, 0x0810, 0x0812,
        0x0C00, 0x0C02, 0x0C04, 0x0C06, 0x0C08, 0x0C0A, 0x0C0C,
        0x2000, 0x2002, 0x2004, 0x2006, 0x2008, 0x200A, 0x200E, 0x2010, 0x2012, 0x2014, 0x2016, 0x2018, 0x201A,
        0x201C, 0x201E, 0x2020, 0x2022, 0x2024, 0x2026, 0x2028, 0x202A, 0x202C, 0x202E, 0x2032, 0x2034, 0x203C, 0x2042,
        0x2400,
        0x2800, 0x2802, 0x2804, 0x2806, 0x2808, 0x280A, 0x280C, 0x280E, 0x2810, 0x2812, 0x2814,
        0x2C00, 0x2C02, 0x2C04,
        0x4000, 0x4002, 0x4004, 0x4006, 0x4008, 0x400A, 0x400C, 0x400E, 0x4010, 0x4012, 0x4014, 0x4016, 0x4018, 0x401A,
        0x401C, 0x401E, 0x4020, 0x4022, 0x4024,
        0x4400, 0x4402, 0x4404, 0x4406, 0x4408, 0x440A, 0x440C, 0x440E,
        0x4800, 0x4802, 0x4804, 0x4806, 0x4808, 0x480A, 0x480C, 0x480E, 0x4810, 0x4812, 0x4814, 0x4816, 0x4818, 0x481A,
        0x481C, 0x481E, 0x4820, 0x4822, 0x4824, 0x4826, 0x482A, 0x482E,
        0x4C00,
        0x6000, 0x6002, 0x6004, 0x6006, 0x6008, 0x600A, 0x600C, 0x600E,
        0x6400, 0x640A,
        0x6800, 0x6802, 0x6804, 0x6806, 0x6808, 0x680A, 0x680C, 0x680E, 0x6810, 0x6812, 0x6814, 0x6816, 0x6818, 0x681A,
        0x681C, 0x681E, 0x6820, 0x6822, 0x6824, 0x6826, 0x6828, 0x682A, 0x682C,
        0x6C00, 0x6C02, 0x6C04, 0x6C06, 0x6C08, 0x6C0A, 0x6C0C, 0x6C0E, 0x6C10, 0x6C12, 0x6C14, 0x6C16, 0x6C18, 0x6C1A, 0x6C1C,
    ];

    private readonly bool[] _supported = new bool[0x8000];

    // Dense slot per supported full encoding (its _HIGH form shares it), -1 otherwise: lets a VMCS model store only
    // the fields the CPU has. Shared by every region of a processor.
    private readonly short[] _slots = new short[0x8000];

    private VmcsFieldCatalog(IEnumerable<uint> encodings)
    {
        foreach (var encoding in encodings)
        {
            if (!VmcsEncoding.IsWellFormed(encoding) || VmcsEncoding.IsHighAccess(encoding))
            {
                throw new ArgumentException($"Field catalog: 0x{encoding:X4} is not the full-access encoding of a VMCS field.", nameof(encodings));
            }

            _supported[encoding] = true;
            if (VmcsEncoding.Width(encoding) == FieldWidth.Bits64)
            {
                _supported[encoding | 1] = true;
            }
        }

        short next = 0;
        Array.Fill(_slots, (short)-1);
        for (var e = 0; e < 0x8000; e += 2)
        {
            if (_supported[e])
            {
                _slots[e] = next;
                if (_supported[e | 1])
                {
                    _slots[e | 1] = next;
                }

                next++;
            }
        }

        Count = next;
    }

    /// <summary>How many fields (full-access encodings) the catalog holds.</summary>
    public int Count { get; }

    /// <summary>The dense slot of a supported encoding (a _HIGH form shares its field's slot), or -1.</summary>
    public int SlotOf(uint encoding) => encoding < 0x8000 ? _slots[encoding] : -1;

    /// <summary>
    /// Every field of the SDM's Appendix B that Linux KVM names in arch/x86/include/asm/vmx.h (mainline, about v6.18):
    /// a CPU with every feature. Source: tests/Reference/vmcs-fields.tsv (the non-_HIGH rows).
    /// </summary>
    public static VmcsFieldCatalog AllKnown { get; } = new(KnownEncodings);

    /// <summary>A catalog of exactly these full-access encodings.</summary>
    public static VmcsFieldCatalog Of(IEnumerable<uint> encodings) => new(encodings);

    /// <summary>This catalog minus some fields (e.g. a CPU without PML lacks GUEST_PML_INDEX and PML_ADDRESS).</summary>
    public VmcsFieldCatalog Without(params uint[] encodings)
    {
        var remaining = new List<uint>();
        var removed = new HashSet<uint>(encodings);
        for (uint e = 0; e < 0x8000; e += 2)
        {
            if (_supported[e] && !removed.Contains(e))
            {
                remaining.Add(e);
            }
        }

        return new VmcsFieldCatalog(remaining);
    }

    /// <summary>Whether the encoding (full or _HIGH form) names a field this CPU supports. Anything above bit 14 is unsupported.</summary>
    public bool Supports(uint encoding) => encoding < 0x8000 && _supported[encoding];

    /// <summary>The highest index (bits 9:1) among supported fields, as IA32_VMX_VMCS_ENUM reports it (bits 9:1).</summary>
    public uint HighestIndex
    {
        get
        {
            uint highest = 0;
            for (uint e = 0; e < 0x8000; e++)
            {
                if (_supported[e])
                {
                    highest = Math.Max(highest, VmcsEncoding.Index(e));
                }
            }

            return highest;
        }
    }
}
