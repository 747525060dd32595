using System;
using System.Buffers.Binary;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// <c>struct kvm_sregs</c> (312 bytes): cs, ds, es, fs, gs, ss, tr, ldt at 0-191; gdt, idt (<c>{u64 base; u16 limit; u16 pad[3]}</c>)
/// at 192 and 208; cr0, cr2, cr3, cr4, cr8, efer, apic_base at 224-279; the interrupt bitmap (4 × u64) at 280.
/// </summary>
public sealed class KvmSregs
{
    public const int Size = 312;

    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public ulong GdtBase, IdtBase;
    public ushort GdtLimit, IdtLimit;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public ulong[] InterruptBitmap = new ulong[4];

    public static KvmSregs Read(ReadOnlySpan<byte> b)
    {
        var s = new KvmSregs
        {
            Cs = KvmSegment.Read(b), Ds = KvmSegment.Read(b[24..]), Es = KvmSegment.Read(b[48..]), Fs = KvmSegment.Read(b[72..]),
            Gs = KvmSegment.Read(b[96..]), Ss = KvmSegment.Read(b[120..]), Tr = KvmSegment.Read(b[144..]), Ldt = KvmSegment.Read(b[168..]),
            GdtBase = BinaryPrimitives.ReadUInt64LittleEndian(b[192..]), GdtLimit = BinaryPrimitives.ReadUInt16LittleEndian(b[200..]),
            IdtBase = BinaryPrimitives.ReadUInt64LittleEndian(b[208..]), IdtLimit = BinaryPrimitives.ReadUInt16LittleEndian(b[216..]),
            Cr0 = BinaryPrimitives.ReadUInt64LittleEndian(b[224..]), Cr2 = BinaryPrimitives.ReadUInt64LittleEndian(b[232..]),
            Cr3 = BinaryPrimitives.ReadUInt64LittleEndian(b[240..]), Cr4 = BinaryPrimitives.ReadUInt64LittleEndian(b[248..]),
            Cr8 = BinaryPrimitives.ReadUInt64LittleEndian(b[256..]), Efer = BinaryPrimitives.ReadUInt64LittleEndian(b[264..]),
            ApicBase = BinaryPrimitives.ReadUInt64LittleEndian(b[272..]),
        };
        for (var i = 0; i < 4; i++)
        {
            s.InterruptBitmap[i] = BinaryPrimitives.ReadUInt64LittleEndian(b[(280 + (8 * i))..]);
        }

        return s;
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Cs.Write(b);
        Ds.Write(b[24..]);
        Es.Write(b[48..]);
        Fs.Write(b[72..]);
        Gs.Write(b[96..]);
        Ss.Write(b[120..]);
        Tr.Write(b[144..]);
        Ldt.Write(b[168..]);
        BinaryPrimitives.WriteUInt64LittleEndian(b[192..], GdtBase);
        BinaryPrimitives.WriteUInt16LittleEndian(b[200..], GdtLimit);
        BinaryPrimitives.WriteUInt64LittleEndian(b[208..], IdtBase);
        BinaryPrimitives.WriteUInt16LittleEndian(b[216..], IdtLimit);
        BinaryPrimitives.WriteUInt64LittleEndian(b[224..], Cr0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[232..], Cr2);
        BinaryPrimitives.WriteUInt64LittleEndian(b[240..], Cr3);
        BinaryPrimitives.WriteUInt64LittleEndian(b[248..], Cr4);
        BinaryPrimitives.WriteUInt64LittleEndian(b[256..], Cr8);
        BinaryPrimitives.WriteUInt64LittleEndian(b[264..], Efer);
        BinaryPrimitives.WriteUInt64LittleEndian(b[272..], ApicBase);
        for (var i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b[(280 + (8 * i))..], InterruptBitmap[i]);
        }
    }
}
