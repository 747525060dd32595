using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>One leaf of <c>struct kvm_cpuid_entry2</c>.</summary>
public readonly record struct KvmCpuidEntry(uint Function, uint Index, uint Flags, uint Eax, uint Ebx, uint Ecx, uint Edx);

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
                BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]), BinaryPrimitives.ReadUInt32LittleEndian(e[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(e[12..]), BinaryPrimitives.ReadUInt32LittleEndian(e[16..]), BinaryPrimitives.ReadUInt32LittleEndian(e[20..]),
                BinaryPrimitives.ReadUInt32LittleEndian(e[24..]));
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

/// <summary><c>struct kvm_segment { u64 base; u32 limit; u16 selector; u8 type, present, dpl, db, s, l, g, avl, unusable, padding; }</c> (24 bytes).</summary>
public record struct KvmSegment(ulong Base, uint Limit, ushort Selector, byte Type, bool Present, byte Dpl, bool Db, bool S, bool L, bool G, bool Avl, bool Unusable)
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

/// <summary><c>struct kvm_regs</c> (144 bytes): rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8-r15, rip, rflags, 8 bytes each in that order.</summary>
public sealed class KvmRegs
{
    public const int Size = 144;

    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp, R8, R9, R10, R11, R12, R13, R14, R15, Rip, Rflags = 2;

    public void Write(Span<byte> b)
    {
        ulong[] values = [Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp, R8, R9, R10, R11, R12, R13, R14, R15, Rip, Rflags];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b[(8 * i)..], values[i]);
        }
    }
}

/// <summary>
/// Why KVM_RUN returned (<c>struct kvm_run</c>, include/uapi/linux/kvm.h: exit_reason at 8, the exit's union at 32): for
/// KVM_EXIT_IO the <c>io</c> member; for KVM_EXIT_FAIL_ENTRY <c>fail_entry { u64 hardware_entry_failure_reason; u32 cpu; }</c>;
/// for KVM_EXIT_INTERNAL_ERROR <c>internal { u32 suberror; u32 ndata; u64 data[16]; }</c>. An internal error's
/// <see cref="InternalErrorData"/> is a fresh list per read, so two reads of such an exit are equal field by field but
/// not by record equality; every other exit compares as before.
/// </summary>
public readonly record struct KvmRunExit(uint Reason, byte IoDirection, byte IoSize, ushort IoPort, uint IoCount, ulong IoDataOffset)
{
    public const uint Io = 2, Hlt = 5, Shutdown = 8, FailEntry = 9, InternalError = 17;

    /// <summary>The bytes of <c>struct kvm_run</c> that <see cref="Read"/> decodes: up to the end of <c>internal.data[16]</c>.</summary>
    public const int DecodedSize = 40 + (16 * 8);

    /// <summary>
    /// KVM_EXIT_FAIL_ENTRY: on VMX the full exit reason of a failed VM entry (bit 31 set, SDM 28.8; e.g. 0x80000021, invalid
    /// guest state) or, when VMLAUNCH/VMRESUME itself failed, the VM-instruction error (vmx.c <c>__vmx_handle_exit</c>).
    /// </summary>
    public ulong HardwareEntryFailureReason { get; init; }

    /// <summary>KVM_EXIT_FAIL_ENTRY: the host CPU of the failed entry.</summary>
    public uint FailEntryCpu { get; init; }

    /// <summary>KVM_EXIT_INTERNAL_ERROR: KVM_INTERNAL_ERROR_EMULATION (1), _SIMUL_EX (2), _DELIVERY_EV (3), _UNEXPECTED_EXIT_REASON (4).</summary>
    public uint Suberror { get; init; }

    private readonly System.Collections.Generic.IReadOnlyList<ulong>? _internalErrorData;

    /// <summary>KVM_EXIT_INTERNAL_ERROR: the first <c>ndata</c> (at most 16) words of <c>internal.data</c>; empty for other exits.</summary>
    public System.Collections.Generic.IReadOnlyList<ulong> InternalErrorData
    {
        get => _internalErrorData ?? [];
        init => _internalErrorData = value;
    }

    /// <summary>Decodes <paramref name="run"/>, the start of the vCPU's <c>struct kvm_run</c>; members beyond its length read as zero.</summary>
    public static KvmRunExit Read(ReadOnlySpan<byte> run)
    {
        var exit = new KvmRunExit(
            BinaryPrimitives.ReadUInt32LittleEndian(run[8..]), run[32], run[33], BinaryPrimitives.ReadUInt16LittleEndian(run[34..]),
            BinaryPrimitives.ReadUInt32LittleEndian(run[36..]), BinaryPrimitives.ReadUInt64LittleEndian(run[40..]));
        switch (exit.Reason)
        {
            case FailEntry:
                return exit with
                {
                    HardwareEntryFailureReason = BinaryPrimitives.ReadUInt64LittleEndian(run[32..]),
                    FailEntryCpu = BinaryPrimitives.ReadUInt32LittleEndian(run[40..]),
                };
            case InternalError:
                var count = (int)Math.Min(Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(run[36..]), 16u), (uint)Math.Max(0, (run.Length - 40) / 8));
                var data = new ulong[count];
                for (var i = 0; i < count; i++)
                {
                    data[i] = BinaryPrimitives.ReadUInt64LittleEndian(run[(40 + (8 * i))..]);
                }

                return exit with { Suberror = BinaryPrimitives.ReadUInt32LittleEndian(run[32..]), InternalErrorData = data };
            default:
                return exit;
        }
    }

    public override string ToString() => Reason switch
    {
        Io => $"KVM_EXIT_IO ({(IoDirection == 1 ? "OUT" : "IN")} port 0x{IoPort:X}, {IoSize} bytes)",
        Hlt => "KVM_EXIT_HLT",
        Shutdown => "KVM_EXIT_SHUTDOWN (a triple fault)",
        FailEntry => $"KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x{HardwareEntryFailureReason:X} ({DescribeEntryFailure(HardwareEntryFailureReason)}) on CPU {FailEntryCpu}",
        InternalError => $"KVM_EXIT_INTERNAL_ERROR: suberror {Suberror} ({DescribeSuberror(Suberror)})"
            + (InternalErrorData.Count == 0 ? string.Empty : ", data " + string.Join(" ", System.Linq.Enumerable.Select(InternalErrorData, d => $"0x{d:X}"))),
        _ => $"exit reason {Reason}",
    };

    private static string DescribeEntryFailure(ulong reason)
    {
        if ((reason & 0x8000_0000) == 0)
        {
            var error = (VmxInstructionError)reason;
            return $"VM-instruction error {reason}: " + (Enum.IsDefined(error) ? error.ToString() : "not an SDM error number");
        }

        var basic = reason & 0xFFFF;
        return $"VM-entry failure, exit reason {basic}: " + basic switch
        {
            33 => "invalid guest state",
            34 => "MSR loading",
            41 => "machine-check event",
            _ => "not an entry-failure reason of SDM 28.8",
        };
    }

    private static string DescribeSuberror(uint suberror) => suberror switch
    {
        1 => "KVM_INTERNAL_ERROR_EMULATION: KVM could not emulate an instruction",
        2 => "KVM_INTERNAL_ERROR_SIMUL_EX: simultaneous exceptions",
        3 => "KVM_INTERNAL_ERROR_DELIVERY_EV: a VM exit while delivering an event",
        4 => "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: an exit reason KVM does not handle",
        _ => "not a suberror of the uapi",
    };
}

/// <summary>
/// Guest memory: page-aligned native memory for KVM_SET_USER_MEMORY_REGION. Disposing it ends its use by the caller; the
/// native memory is freed once no VM's memslot refers to it any more (a VM holds what it maps until it is disposed), so
/// disposing it before the VM cannot leave KVM a memslot over freed memory.
/// </summary>
public sealed unsafe class GuestMemory : IDisposable
{
    private readonly object _gate = new();
    private bool _disposed;
    private int _users;

    public GuestMemory(int size)
    {
        if (size <= 0 || (size & 0xFFF) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "Guest memory is a positive multiple of 4 KiB.");
        }

        Size = size;
        Address = (nint)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear((void*)Address, (nuint)size);
    }

    public int Size { get; }

    /// <summary>The native address; zero once freed (after <see cref="Dispose"/> and the last VM using it).</summary>
    public nint Address { get; private set; }

    public Span<byte> Bytes => _disposed || Address == 0 ? throw new ObjectDisposedException(nameof(GuestMemory)) : new Span<byte>((void*)Address, Size);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            FreeIfUnused();
        }
    }

    /// <summary>A VM maps this memory into a memslot: keep it until <see cref="Release"/>.</summary>
    internal void AddUser()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _users++;
        }
    }

    /// <summary>The VM is gone (its fd closed): free the memory if its owner has disposed it.</summary>
    internal void Release()
    {
        lock (_gate)
        {
            _users--;
            FreeIfUnused();
        }
    }

    private void FreeIfUnused()
    {
        if (_disposed && _users == 0 && Address != 0)
        {
            NativeMemory.AlignedFree((void*)Address);
            Address = 0;
        }
    }
}
