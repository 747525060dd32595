using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

/// <summary>The processor mode a VMX instruction executes in (what decides #UD and operand widths).</summary>
public enum CpuMode : byte
{
    /// <summary>IA-32e mode with CS.L = 1: 64-bit operands and encoding register.</summary>
    Long64,

    /// <summary>IA-32e mode with CS.L = 0: every VMX instruction is #UD.</summary>
    Compatibility,

    /// <summary>Protected mode outside IA-32e mode: 32-bit operands; a 64-bit field reads and writes its low 32 bits.</summary>
    Protected32,

    /// <summary>CR0.PE = 0: VMX instructions are #UD.</summary>
    Real,

    /// <summary>RFLAGS.VM = 1: VMX instructions are #UD.</summary>
    Virtual8086,
}

/// <summary>Whether the logical processor is in VMX operation, and which side of it.</summary>
public enum VmxOperation : byte
{
    Outside,
    Root,
    NonRoot,
}

/// <summary>
/// The context of one VMX instruction: the mode, the CPL, and the interruptibility state that VMLAUNCH/VMRESUME check.
/// The VMX operation (outside, root, non-root) is the processor's own state.
/// </summary>
public readonly record struct VmxContext(CpuMode Mode = CpuMode.Long64, int Cpl = 0, bool BlockingByMovSs = false)
{
    public static VmxContext Long64 => default;

    public static VmxContext Protected32 => new(CpuMode.Protected32);

    /// <summary>Operand width in bits: 64 in 64-bit mode, 32 otherwise.</summary>
    public int OperandBits => Mode == CpuMode.Long64 ? 64 : 32;
}

/// <summary>A general-purpose register, as the VM-exit instruction-information field numbers them.</summary>
public enum Gpr : byte
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>
/// An instruction operand: a register with its value, or memory at a linear address (which may fault with #PF when its
/// page is marked not present in <see cref="PhysicalMemory"/>; linear = physical in this model).
/// </summary>
public readonly record struct VmxOperand(bool IsMemory, Gpr Register, ulong Value)
{
    public static VmxOperand Reg(Gpr register, ulong value = 0) => new(false, register, value);

    public static VmxOperand Mem(ulong linearAddress) => new(true, Gpr.Rax, linearAddress);

    /// <summary>For a memory operand, its linear address.</summary>
    public ulong Address => Value;
}

/// <summary>What a VMX instruction did.</summary>
public enum InstructionOutcomeKind : byte
{
    /// <summary>VMsucceed.</summary>
    Succeed,

    /// <summary>VMfailInvalid (CF = 1).</summary>
    FailInvalid,

    /// <summary>VMfailValid(n) (ZF = 1), n stored in the VM-instruction error field of the current VMCS.</summary>
    FailValid,

    /// <summary>A fault: #UD, #GP(0) or #PF; the instruction had no effect.</summary>
    Exception,

    /// <summary>In VMX non-root operation, a VM exit to the VMM with the reason, qualification and instruction information.</summary>
    VmExit,

    /// <summary>VMLAUNCH/VMRESUME passed the VMfail checks but the guest state failed: a VM-entry failure exit (reason | 0x80000000).</summary>
    EntryFailure,
}

/// <summary>
/// The outcome of a VMX instruction as a value (never a thrown exception for the guest): VMsucceed, VMfailInvalid,
/// VMfailValid(n), an exception (vector and error code), a VM exit (basic reason, qualification, instruction information)
/// or a VM-entry failure, plus the value a VMREAD or VMPTRST produced.
/// </summary>
public readonly record struct InstructionOutcome(
    InstructionOutcomeKind Kind, VmxInstructionError Error = 0, byte Vector = 0, uint ErrorCode = 0, uint ExitReason = 0,
    ulong ExitQualification = 0, uint InstructionInformation = 0, ulong Value = 0, string? Rule = null)
{
    public const byte UD = 6, GP = 13, PF = 14;

    public static InstructionOutcome Succeed(ulong value = 0) => new(InstructionOutcomeKind.Succeed, Value: value);

    public static InstructionOutcome FailInvalid => new(InstructionOutcomeKind.FailInvalid);

    public static InstructionOutcome FailValid(VmxInstructionError error, string? rule = null) => new(InstructionOutcomeKind.FailValid, error, Rule: rule);

    public static InstructionOutcome InvalidOpcode => new(InstructionOutcomeKind.Exception, Vector: UD);

    public static InstructionOutcome GeneralProtection => new(InstructionOutcomeKind.Exception, Vector: GP);

    public static InstructionOutcome PageFault(uint errorCode) => new(InstructionOutcomeKind.Exception, Vector: PF, ErrorCode: errorCode);

    public bool IsSuccess => Kind == InstructionOutcomeKind.Succeed;

    /// <summary>The VMX result (succeed/fail) when the instruction completed; null for an exception, a VM exit or an entry failure.</summary>
    public VmxResult? Result => Kind switch
    {
        InstructionOutcomeKind.Succeed => VmxResult.Succeed,
        InstructionOutcomeKind.FailInvalid => VmxResult.FailInvalid,
        InstructionOutcomeKind.FailValid => VmxResult.FailValid(Error),
        _ => null,
    };

    public override string ToString() => Kind switch
    {
        InstructionOutcomeKind.Succeed => "VMsucceed",
        InstructionOutcomeKind.FailInvalid => "VMfailInvalid",
        InstructionOutcomeKind.FailValid => $"VMfailValid({(int)Error})" + (Rule is null ? "" : $": {Rule}"),
        InstructionOutcomeKind.Exception => Vector switch { UD => "#UD", GP => "#GP(0)", _ => $"#PF(0x{ErrorCode:X})" },
        InstructionOutcomeKind.VmExit => $"VM exit {ExitReason} (qualification 0x{ExitQualification:X}, instruction information 0x{InstructionInformation:X8})",
        _ => $"VM-entry failure, exit reason 0x{ExitReason:X8}, qualification {ExitQualification}" + (Rule is null ? "" : $": {Rule}"),
    };
}

/// <summary>VM-exit basic reasons of the VMX instructions (SDM Vol. 3D Appendix C).</summary>
public static class VmxExitReason
{
    public const uint VmClear = 19, VmLaunch = 20, VmPtrLd = 21, VmPtrSt = 22, VmRead = 23, VmResume = 24, VmWrite = 25, VmxOff = 26, VmxOn = 27;

    /// <summary>VM-entry failure due to invalid guest state.</summary>
    public const uint InvalidGuestState = 33;

    /// <summary>VM-entry failure due to MSR loading.</summary>
    public const uint MsrLoading = 34;

    public const uint EntryFailureBit = 0x8000_0000;
}

/// <summary>
/// Guest-physical memory of the model, in 4 KiB pages created on first touch (zeroed). VMCS regions, VMXON regions,
/// the VMREAD/VMWRITE bitmaps and memory operands live here. Pages marked not present make a memory operand fault (#PF).
/// </summary>
public sealed class PhysicalMemory
{
    private readonly Dictionary<ulong, byte[]> _pages = new();
    private readonly HashSet<ulong> _notPresent = new();

    /// <summary>Makes accesses of memory operands in this page fault with #PF (linear = physical in this model).</summary>
    public void MarkNotPresent(ulong address) => _notPresent.Add(address & ~0xFFFul);

    public void MarkPresent(ulong address) => _notPresent.Remove(address & ~0xFFFul);

    /// <summary>Whether an operand access of <paramref name="size"/> bytes at <paramref name="address"/> faults.</summary>
    public bool Faults(ulong address, int size) =>
        _notPresent.Count != 0 && (_notPresent.Contains(address & ~0xFFFul) || _notPresent.Contains((address + (ulong)size - 1) & ~0xFFFul));

    public void Read(ulong address, Span<byte> destination)
    {
        for (var i = 0; i < destination.Length;)
        {
            var at = address + (ulong)i;
            var offset = (int)(at & 0xFFF);
            var count = Math.Min(destination.Length - i, 4096 - offset);
            if (_pages.TryGetValue(at & ~0xFFFul, out var page))
            {
                page.AsSpan(offset, count).CopyTo(destination.Slice(i, count));
            }
            else
            {
                destination.Slice(i, count).Clear();
            }

            i += count;
        }
    }

    public void Write(ulong address, ReadOnlySpan<byte> source)
    {
        for (var i = 0; i < source.Length;)
        {
            var at = address + (ulong)i;
            var offset = (int)(at & 0xFFF);
            var count = Math.Min(source.Length - i, 4096 - offset);
            source.Slice(i, count).CopyTo(Page(at).AsSpan(offset, count));
            i += count;
        }
    }

    public ulong ReadUInt64(ulong address)
    {
        Span<byte> bytes = stackalloc byte[8];
        Read(address, bytes);
        return BitConverter.ToUInt64(bytes);
    }

    public uint ReadUInt32(ulong address)
    {
        Span<byte> bytes = stackalloc byte[4];
        Read(address, bytes);
        return BitConverter.ToUInt32(bytes);
    }

    public void WriteUInt64(ulong address, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BitConverter.TryWriteBytes(bytes, value);
        Write(address, bytes);
    }

    public void WriteUInt32(ulong address, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, value);
        Write(address, bytes);
    }

    /// <summary>Bit <paramref name="bit"/> of the bitmap page at <paramref name="address"/> (no allocation for an untouched page: reads 0).</summary>
    public bool Bit(ulong address, uint bit) =>
        _pages.TryGetValue((address + (bit >> 3)) & ~0xFFFul, out var page) && (page[(int)((address + (bit >> 3)) & 0xFFF)] & (1 << (int)(bit & 7))) != 0;

    /// <summary>Copies <paramref name="count"/> bytes, as software copying a VMCS region would.</summary>
    public void Copy(ulong from, ulong to, int count)
    {
        var buffer = new byte[count];
        Read(from, buffer);
        Write(to, buffer);
    }

    private byte[] Page(ulong address)
    {
        var key = address & ~0xFFFul;
        if (!_pages.TryGetValue(key, out var page))
        {
            page = new byte[4096];
            _pages[key] = page;
        }

        return page;
    }
}
