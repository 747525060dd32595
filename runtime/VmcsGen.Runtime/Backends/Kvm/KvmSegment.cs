using System;
using System.Buffers.Binary;

namespace VmcsGen.Backends.Kvm;

/// <summary><c>struct kvm_segment { u64 base; u32 limit; u16 selector; u8 type, present, dpl, db, s, l, g, avl, unusable, padding; }</c> (24 bytes).</summary>
public record struct KvmSegment(
    ulong Base, uint Limit, ushort Selector, byte Type, bool Present, byte Dpl, bool Db, bool S, bool L, bool G, bool Avl, bool Unusable)
{
    public const int Size = 24;

    /// <summary>A flat segment: base 0, limit 4 GiB, present, granular.</summary>
    public static KvmSegment Flat(ushort selector, byte type, bool code64 = false) =>
        new(0, 0xFFFF_FFFF, selector, type, true, 0, !code64, true, code64, true, false, false);

    internal static KvmSegment Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), BinaryPrimitives.ReadUInt16LittleEndian(b[12..]),
        b[14], b[15] != 0, b[16], b[17] != 0, b[18] != 0, b[19] != 0, b[20] != 0, b[21] != 0, b[22] != 0);

    internal readonly void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, Base);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Limit);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], Selector);
        b[14] = Type;
        b[15] = Present ? (byte)1 : (byte)0;
        b[16] = Dpl;
        b[17] = Db ? (byte)1 : (byte)0;
        b[18] = S ? (byte)1 : (byte)0;
        b[19] = L ? (byte)1 : (byte)0;
        b[20] = G ? (byte)1 : (byte)0;
        b[21] = Avl ? (byte)1 : (byte)0;
        b[22] = Unusable ? (byte)1 : (byte)0;
        b[23] = 0;
    }
}
