using System;
using System.Buffers.Binary;
using System.Collections.Generic;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// The byte layouts of the uapi structs the setup passes (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h,
/// x86-64), written field by field at their offsets so the bytes never depend on C# struct layout.
/// </summary>
public static class KvmStructs
{
    /// <summary><c>struct kvm_userspace_memory_region { u32 slot; u32 flags; u64 guest_phys_addr; u64 memory_size; u64 userspace_addr; }</c></summary>
    public const int UserMemoryRegionSize = 32;

    /// <summary><c>struct kvm_cpuid2 { u32 nent; u32 padding; struct kvm_cpuid_entry2 entries[]; }</c></summary>
    public const int Cpuid2HeaderSize = 8;

    /// <summary><c>struct kvm_cpuid_entry2 { u32 function, index, flags, eax, ebx, ecx, edx; u32 padding[3]; }</c></summary>
    public const int CpuidEntrySize = 40;

    /// <summary><c>struct kvm_msrs { u32 nmsrs; u32 pad; struct kvm_msr_entry entries[]; }</c></summary>
    public const int MsrsHeaderSize = 8;

    /// <summary><c>struct kvm_msr_entry { u32 index; u32 reserved; u64 data; }</c></summary>
    public const int MsrEntrySize = 16;

    public static void WriteUserMemoryRegion(Span<byte> bytes, uint slot, uint flags, ulong guestPhysical, ulong size, ulong userspaceAddress)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, slot);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[8..], guestPhysical);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[16..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[24..], userspaceAddress);
    }

    public static void WriteCpuid2(Span<byte> bytes, IReadOnlyList<KvmCpuidEntry> entries)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[4..], 0);
        for (var i = 0; i < entries.Count; i++)
        {
            var e = bytes.Slice(Cpuid2HeaderSize + (i * CpuidEntrySize), CpuidEntrySize);
            var entry = entries[i];
            e.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(e, entry.Function);
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], entry.Index);
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], entry.Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(e[12..], entry.Eax);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], entry.Ebx);
            BinaryPrimitives.WriteUInt32LittleEndian(e[20..], entry.Ecx);
            BinaryPrimitives.WriteUInt32LittleEndian(e[24..], entry.Edx);
        }
    }

    public static IReadOnlyList<KvmCpuidEntry> ReadCpuid2(ReadOnlySpan<byte> bytes)
    {
        var count = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(bytes), (uint)((bytes.Length - Cpuid2HeaderSize) / CpuidEntrySize));
        var entries = new KvmCpuidEntry[count];
        for (var i = 0; i < count; i++)
        {
            var e = bytes.Slice(Cpuid2HeaderSize + (i * CpuidEntrySize), CpuidEntrySize);
            entries[i] = new KvmCpuidEntry(
                Function: BinaryPrimitives.ReadUInt32LittleEndian(e),
                Index: BinaryPrimitives.ReadUInt32LittleEndian(e[4..]),
                Flags: BinaryPrimitives.ReadUInt32LittleEndian(e[8..]),
                Eax: BinaryPrimitives.ReadUInt32LittleEndian(e[12..]),
                Ebx: BinaryPrimitives.ReadUInt32LittleEndian(e[16..]),
                Ecx: BinaryPrimitives.ReadUInt32LittleEndian(e[20..]),
                Edx: BinaryPrimitives.ReadUInt32LittleEndian(e[24..]));
        }

        return entries;
    }

    public static void WriteMsrs(Span<byte> bytes, IReadOnlyList<(uint Index, ulong Value)> msrs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)msrs.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[4..], 0);
        for (var i = 0; i < msrs.Count; i++)
        {
            var e = bytes.Slice(MsrsHeaderSize + (i * MsrEntrySize), MsrEntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(e, msrs[i].Index);
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 0);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], msrs[i].Value);
        }
    }
}
