using System.Collections.Generic;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// A perfect hash of the layout's valid encodings (each field and each _HIGH form), found at compile time: slot =
/// <c>(encoding * Multiplier) &gt;&gt; (32 - Bits)</c> is distinct for every valid encoding, so one multiply, one shift and
/// one load of a 32-bit entry answer "which field, at what offset, how wide" with no search and no branch but the final
/// key compare. Each entry holds its encoding as the key (bits 15:0), the vmcs12 offset (bits 28:16) and the access size
/// (bits 30:29: 0 = 2 bytes, 1 = 4, 2 = 8); an empty slot holds a key that does not hash to it, so no encoding matches it.
/// </summary>
/// <remarks>
/// The search tries a fixed sequence of odd multipliers (Knuth's golden-ratio constant times 1, 2, 3, …) for the
/// smallest table of at least twice as many slots as encodings, <see cref="TriesPerSize"/> multipliers per size, then
/// doubles the table. At 2^15 slots the multiplier 2^17 makes the slot the encoding's low 15 bits, which is injective
/// because valid encodings have bit 15 and above clear (the binder rejects reserved bits): the search always ends, and
/// the same manifest always gives the same hash.
/// </remarks>
internal sealed class EncodingHash
{
    /// <summary>Multipliers tried per table size before the table doubles; bounds the generator's work per manifest.</summary>
    public const int TriesPerSize = 256;

    private const uint Golden = 0x9E3779B9u;
    private const int MaxBits = 15;

    private EncodingHash(int bits, uint multiplier, uint[] entries, int[] descriptors)
    {
        Bits = bits;
        Multiplier = multiplier;
        Entries = entries;
        Descriptors = descriptors;
    }

    /// <summary>log2 of the table length.</summary>
    public int Bits { get; }

    public uint Multiplier { get; }

    /// <summary>The table, 2^<see cref="Bits"/> entries.</summary>
    public uint[] Entries { get; }

    /// <summary>
    /// Per slot, the descriptor it holds: i for the manifest's field i (full access), Count + j for the j-th _HIGH form;
    /// 0 in an empty slot (its key never matches).
    /// </summary>
    public int[] Descriptors { get; }

    public static uint SizeCode(int bytes) => bytes switch
    {
        2 => 0u,
        4 => 1u,
        _ => 2u,
    };

    public static EncodingHash Build(VmcsManifest manifest)
    {
        var keys = new List<(uint Encoding, int Offset, int Bytes, int Descriptor)>();
        var high = 0;
        for (var i = 0; i < manifest.Fields.Length; i++)
        {
            var field = manifest.Fields[i];
            keys.Add((field.Encoding, field.Offset, field.SizeInBytes, i));
            if (field.Is64Bit)
            {
                keys.Add((field.Encoding | 1, field.Offset + 4, 4, manifest.Fields.Length + high++));
            }
        }

        var bits = 1;
        while ((1 << bits) < 2 * keys.Count && bits < MaxBits)
        {
            bits++;
        }

        for (; bits < MaxBits; bits++)
        {
            for (var i = 1u; i <= TriesPerSize; i++)
            {
                var multiplier = (Golden * i) | 1u;
                if (IsPerfect(keys, bits, multiplier))
                {
                    return Fill(keys, bits, multiplier);
                }
            }
        }

        return Fill(keys, MaxBits, 1u << (32 - MaxBits));
    }

    public static uint Slot(uint encoding, int bits, uint multiplier) => unchecked(encoding * multiplier) >> (32 - bits);

    private static bool IsPerfect(List<(uint Encoding, int Offset, int Bytes, int Descriptor)> keys, int bits, uint multiplier)
    {
        var used = new bool[1 << bits];
        foreach (var key in keys)
        {
            var slot = Slot(key.Encoding, bits, multiplier);
            if (used[slot])
            {
                return false;
            }

            used[slot] = true;
        }

        return true;
    }

    private static EncodingHash Fill(List<(uint Encoding, int Offset, int Bytes, int Descriptor)> keys, int bits, uint multiplier)
    {
        var entries = new uint[1 << bits];
        var descriptors = new int[1 << bits];
        var used = new bool[1 << bits];
        foreach (var key in keys)
        {
            var slot = Slot(key.Encoding, bits, multiplier);
            used[slot] = true;
            entries[slot] = key.Encoding | ((uint)key.Offset << 16) | (SizeCode(key.Bytes) << 29);
            descriptors[slot] = key.Descriptor;
        }

        for (var slot = 0u; slot < entries.Length; slot++)
        {
            if (!used[slot])
            {
                // A key no valid encoding has (bit 15 set) that hashes elsewhere: nothing can match an empty slot.
                var key = 0xFFFFu;
                while (Slot(key, bits, multiplier) == slot)
                {
                    key--;
                }

                entries[slot] = key;
            }
        }

        return new EncodingHash(bits, multiplier, entries, descriptors);
    }
}
