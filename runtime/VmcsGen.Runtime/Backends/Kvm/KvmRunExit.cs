using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Backends.Kvm;

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

    private readonly IReadOnlyList<ulong>? _internalErrorData;

    /// <summary>KVM_EXIT_INTERNAL_ERROR: the first <c>ndata</c> (at most 16) words of <c>internal.data</c>; empty for other exits.</summary>
    public IReadOnlyList<ulong> InternalErrorData
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
        FailEntry => $"KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x{HardwareEntryFailureReason:X} "
            + $"({DescribeEntryFailure(HardwareEntryFailureReason)}) on CPU {FailEntryCpu}",
        InternalError => $"KVM_EXIT_INTERNAL_ERROR: suberror {Suberror} ({DescribeSuberror(Suberror)})"
            + (InternalErrorData.Count == 0 ? string.Empty : ", data " + string.Join(" ", InternalErrorData.Select(d => $"0x{d:X}"))),
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
