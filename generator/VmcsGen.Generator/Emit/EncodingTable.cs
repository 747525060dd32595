using System.Collections.Generic;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// The by-encoding lookup the generated code uses, derived at compile time: one 32-bit entry per valid encoding (each
/// field and each _HIGH form), to be placed at index <c>encoding</c> of a 2^15-entry table (valid encodings have bit 15
/// and above clear: the binder rejects reserved bits). A lookup is one compare and one load, no search, no key check:
/// an entry is 0 exactly where the layout has no such encoding.
/// </summary>
/// <remarks>
/// Entry bits: 15:0 the descriptor + 1 (field i of the manifest is i; the j-th _HIGH form is Count + j), 28:16 the
/// vmcs12 offset (below 4096, the largest region), 30:29 the access size (0 = 2 bytes, 1 = 4, 2 = 8). Measured against
/// KVM's ROL16 table, a compile-time perfect hash and the generated switch in tests/VmcsGen.Benchmarks (LookupBenchmarks,
/// docs/PERFORMANCE.md): the direct table was the fastest on every encoding set.
/// </remarks>
internal static class EncodingTable
{
    /// <summary>Table length: every encoding with bits 31:15 clear.</summary>
    public const int Length = 0x8000;

    public static uint SizeCode(int bytes) => bytes switch
    {
        2 => 0u,
        4 => 1u,
        _ => 2u,
    };

    /// <summary>(encoding, entry) for each valid encoding, in the manifest's field order, each full form before its _HIGH form.</summary>
    public static List<(uint Encoding, uint Entry)> Entries(VmcsManifest manifest)
    {
        var entries = new List<(uint, uint)>();
        var high = 0;
        for (var i = 0; i < manifest.Fields.Length; i++)
        {
            var field = manifest.Fields[i];
            entries.Add((field.Encoding, Entry(i, field.Offset, field.SizeInBytes)));
            if (field.Is64Bit)
            {
                entries.Add((field.Encoding | 1, Entry(manifest.Fields.Length + high++, field.Offset + 4, 4)));
            }
        }

        return entries;
    }

    private static uint Entry(int descriptor, int offset, int bytes) => (uint)(descriptor + 1) | ((uint)offset << 16) | (SizeCode(bytes) << 29);
}
