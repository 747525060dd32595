using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VmcsGen.Backends.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>The fake's KVM_RUN: scripted runs first, then the two-step model of the nested launch, and the exits it writes.</summary>
internal sealed partial class FakeKvmDevice
{
    private int RunOnce(out int errno)
    {
        errno = 0;
        var run = new byte[_runLength];
        if (Runs.TryDequeue(out var scripted))
        {
            if (scripted.Errno != 0)
            {
                errno = scripted.Errno;
                return -1;
            }

            scripted.Fill?.Invoke(run);
        }
        else if (GuestMode && _nestedState is { } state)
        {
            ModelLaunch(run, state);
        }
        else
        {
            WriteIoExit(run, KvmNestedLaunch.L1Port);
        }

        Marshal.Copy(run, 0, _run, run.Length);
        return 0;
    }

    private void ModelLaunch(byte[] run, byte[] state)
    {
        var vmcs12 = state.AsSpan(128);
        if (!Code(Registers.Rip, 2).SequenceEqual(new byte[] { 0x0F, 0xA2 }))
        {
            WriteInternalError(run, 1);
            return;
        }

        // nested_vmx_vmexit: vmcs12 records the CPUID exit, L1 resumes at HOST_RIP (load_vmcs12_host_state).
        BinaryPrimitives.WriteUInt32LittleEndian(vmcs12[Vmcs12ExitReason..], 10);
        BinaryPrimitives.WriteUInt64LittleEndian(vmcs12[Vmcs12ExitQualification..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(vmcs12[Vmcs12ExitInstructionLen..], 2);
        BinaryPrimitives.WriteUInt64LittleEndian(vmcs12[Vmcs12GuestRip..], Registers.Rip);
        BinaryPrimitives.WriteUInt16LittleEndian(state, 0); // no longer in guest mode
        GuestMode = false;
        var hostRip = BinaryPrimitives.ReadUInt64LittleEndian(vmcs12[Vmcs12HostRip..]);
        Registers = (hostRip, BinaryPrimitives.ReadUInt64LittleEndian(vmcs12[Vmcs12HostRsp..]), 2, Registers.Rax);
        var code = Code(hostRip, 2);
        if (code[0] == 0xE6)
        {
            WriteIoExit(run, code[1]);
        }
        else
        {
            WriteInternalError(run, 1);
        }
    }

    private byte[] Code(ulong address, int length)
    {
        var bytes = new byte[length];
        if (_memoryAddress != 0 && address + (ulong)length <= _memorySize)
        {
            Marshal.Copy((nint)(_memoryAddress + address), bytes, 0, length);
        }

        return bytes;
    }

    public static void WriteIoExit(byte[] run, ushort port)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.Io);
        run[32] = 1; // KVM_EXIT_IO_OUT
        run[33] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(run.AsSpan(34), port);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(36), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(40), 4096);
    }

    public static void WriteInternalError(byte[] run, uint suberror, params ulong[] data)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.InternalError);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(32), suberror);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(36), (uint)data.Length);
        for (var i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(40 + (8 * i)), data[i]);
        }
    }

    public static void WriteFailEntry(byte[] run, ulong reason, uint cpu)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.FailEntry);
        BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(32), reason);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(40), cpu);
    }
}
