using System;
using System.Buffers.Binary;

namespace VmcsGen.Backends.Kvm;

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
