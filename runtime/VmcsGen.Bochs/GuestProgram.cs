using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>The processor mode a guest program runs in (both with paging, CR4.VMXE = 1, IA32_FEATURE_CONTROL locked with VMXON allowed).</summary>
public enum GuestMode : byte
{
    /// <summary>IA-32e mode, 64-bit code segment.</summary>
    Long64,

    /// <summary>Protected mode outside IA-32e mode (32-bit paging with 4 MiB pages), 32-bit code segment.</summary>
    Protected32,
}

/// <summary>The VMX instructions a program can execute.</summary>
public enum VmxOpcode : byte
{
    Vmxon,
    Vmxoff,
    Vmclear,
    Vmptrld,
    Vmptrst,
    Vmread,
    Vmwrite,
    Vmlaunch,
    Vmresume,
}

/// <summary>One step of a <see cref="GuestProgram"/>: setup (memory) or an instruction whose outcome is recorded.</summary>
public abstract record GuestStep
{
    /// <summary>Whether the step produces an outcome in the result stream.</summary>
    public abstract bool IsRecorded { get; }
}

/// <summary>Stores a 1-, 2-, 4- or 8-byte value at a physical (= linear) address, at CPL 0. Not recorded.</summary>
public sealed record MemoryWrite(ulong Address, ulong Value, int Size = 8) : GuestStep
{
    public override bool IsRecorded => false;
}

/// <summary>Stores bytes (code for a guest, a bitmap…) at a physical (= linear) address, at CPL 0. Not recorded.</summary>
public sealed record MemoryBytes(ulong Address, byte[] Data) : GuestStep
{
    public override bool IsRecorded => false;

    public override string ToString() => $"MemoryBytes {{ Address = 0x{Address:X}, {Data.Length} bytes }}";
}

/// <summary>Copies <see cref="Count"/> bytes (REP MOVSB at CPL 0), as software copying a VMCS region does. Not recorded.</summary>
public sealed record MemoryCopy(ulong From, ulong To, int Count) : GuestStep
{
    public override bool IsRecorded => false;
}

/// <summary>RDMSR at CPL 0: the outcome's value is EDX:EAX, or a #GP.</summary>
public sealed record MsrRead(uint Index) : GuestStep
{
    public override bool IsRecorded => true;
}

/// <summary>CPUID at CPL 0 with ECX = 0: the outcome's value is EBX:EAX, its <see cref="InstructionRecord.Error"/> is EDX:ECX.</summary>
public sealed record CpuidRead(uint Leaf) : GuestStep
{
    public override bool IsRecorded => true;
}

/// <summary>
/// VMLAUNCH into an L1 guest that goes on with the program: the runner sets GUEST_RIP to the code after this step and
/// GUEST_RSP to its stack, so on VM entry the following steps run in VMX non-root operation (VMREAD/VMWRITE under VMCS
/// shadowing, or VM exits). The first VM exit (or a VM-entry failure) ends the program; steps after it are not run and
/// not recorded. The VMCS must already hold valid controls, <see cref="GuestLayout.HostState"/> and
/// <see cref="GuestLayout.GuestState64"/>. The outcome is VMLAUNCH's: VMsucceed when the guest runs. 64-bit programs only.
/// In the guest a VMfailValid's error number is not readable (<see cref="InstructionRecord.ErrorNotReadable"/>).
/// </summary>
public sealed record EnterGuest : GuestStep
{
    public override bool IsRecorded => true;

    public override string ToString() => "VMLAUNCH (enter the guest; the following steps run in it)";
}

/// <summary>
/// A VMX instruction at a CPL (0 or 3) with its operands as <see cref="SoftwareVmx"/>'s instruction layer takes them:
/// <see cref="Operand"/> is the m64 pointer operand (VMXON, VMCLEAR, VMPTRLD, VMPTRST), VMREAD's destination or
/// VMWRITE's source, a register with its value or memory at an address; <see cref="EncodingRegister"/> is VMREAD's and
/// VMWRITE's field-encoding register and its value. A memory operand is addressed through <see cref="MemoryBase"/> (the
/// address loaded into that register, <c>[reg]</c>) or, when null, by an absolute displacement.
/// </summary>
public sealed record VmxInstruction(VmxOpcode Opcode, VmxOperand Operand = default, VmxOperand EncodingRegister = default, int Cpl = 0, Gpr? MemoryBase = null)
    : GuestStep
{
    public override bool IsRecorded => true;

    /// <summary>Whether the instruction takes an operand (all but VMXOFF, VMLAUNCH and VMRESUME).</summary>
    public bool HasOperand => Opcode is not (VmxOpcode.Vmxoff or VmxOpcode.Vmlaunch or VmxOpcode.Vmresume);

    /// <summary>VMREAD and VMWRITE have a field-encoding register.</summary>
    public bool HasEncoding => Opcode is VmxOpcode.Vmread or VmxOpcode.Vmwrite;

    public override string ToString()
    {
        var name = Opcode.ToString().ToUpperInvariant();
        string Op(VmxOperand o) => o.IsMemory ? (MemoryBase is { } b ? $"[{b}=0x{o.Address:X}]" : $"[0x{o.Address:X}]") : $"{o.Register}=0x{o.Value:X}";
        var text = Opcode switch
        {
            VmxOpcode.Vmread => $"{name} {Op(Operand)}, {EncodingRegister.Register}=0x{EncodingRegister.Value:X}",
            VmxOpcode.Vmwrite => $"{name} {EncodingRegister.Register}=0x{EncodingRegister.Value:X}, {Op(Operand)}",
            _ when HasOperand => $"{name} {Op(Operand)}",
            _ => name,
        };
        return Cpl == 0 ? text : $"{text} (CPL {Cpl})";
    }
}

/// <summary>
/// A guest program: steps run in order in one mode. Every program starts outside VMX operation at CPL 0 with the data
/// area (<see cref="GuestLayout.DataStart"/>..<see cref="GuestLayout.DataEnd"/>, bar the not-present page) zeroed; the
/// runner leaves VMX operation after its last step.
/// </summary>
public sealed record GuestProgram(GuestMode Mode, IReadOnlyList<GuestStep> Steps)
{
    /// <summary>Whether the program enters a guest (an <see cref="EnterGuest"/> step): a VM exit then ends it.</summary>
    public bool HasGuest => Steps.Any(s => s is EnterGuest);

    public override string ToString() => $"{Mode}: " + string.Join("; ", Steps);

    /// <summary>Checks the program against the layout: what a guest may touch, CPLs, operand shapes. Throws <see cref="ArgumentException"/>.</summary>
    public void Validate()
    {
        var registers = Mode == GuestMode.Long64 ? 16 : 8;
        for (var i = 0; i < Steps.Count; i++)
        {
            var where = $"step {i} ({Steps[i]})";
            switch (Steps[i])
            {
                case MemoryWrite w:
                    if (w.Size is not (1 or 2 or 4 or 8) || !GuestLayout.IsWritable(w.Address, w.Size))
                    {
                        throw new ArgumentException($"{where}: writes must be 1, 2, 4 or 8 bytes inside the data area (not the not-present page).");
                    }

                    break;
                case EnterGuest:
                    if (Mode != GuestMode.Long64)
                    {
                        throw new ArgumentException($"{where}: a guest is entered from 64-bit programs only.");
                    }

                    break;
                case MemoryBytes b:
                    if (b.Data.Length == 0 || !GuestLayout.IsWritable(b.Address, b.Data.Length))
                    {
                        throw new ArgumentException($"{where}: bytes must lie inside the data area (not the not-present page).");
                    }

                    break;
                case MemoryCopy c:
                    if (c.Count <= 0 || !GuestLayout.IsWritable(c.From, c.Count) || !GuestLayout.IsWritable(c.To, c.Count))
                    {
                        throw new ArgumentException($"{where}: copies must lie inside the data area (not the not-present page).");
                    }

                    break;
                case VmxInstruction x:
                    if (x.Cpl is not (0 or 3))
                    {
                        throw new ArgumentException($"{where}: CPL must be 0 or 3.");
                    }

                    if (x.Opcode is VmxOpcode.Vmxon or VmxOpcode.Vmclear or VmxOpcode.Vmptrld or VmxOpcode.Vmptrst && !x.Operand.IsMemory)
                    {
                        throw new ArgumentException($"{where}: {x.Opcode} takes a memory operand (a register form encodes RDRAND/RDSEED).");
                    }

                    if (x.HasOperand && x.Operand.IsMemory && !GuestLayout.IsOperandAddress(x.Operand.Address))
                    {
                        throw new ArgumentException($"{where}: a memory operand must lie in the data area.");
                    }

                    foreach (var r in new[]
                    {
                        x.HasOperand && !x.Operand.IsMemory ? x.Operand.Register : (Gpr?)null, x.HasEncoding ? x.EncodingRegister.Register : null,
                        x.HasOperand && x.Operand.IsMemory ? x.MemoryBase : null,
                    })
                    {
                        if (r is { } reg && ((int)reg >= registers || reg == Gpr.Rsp))
                        {
                            throw new ArgumentException($"{where}: register {reg} is not usable in {Mode} (RSP is the runner's).");
                        }
                    }

                    if (x.HasEncoding && x.HasOperand
                        && ((!x.Operand.IsMemory && x.Operand.Register == x.EncodingRegister.Register && x.Operand.Value != x.EncodingRegister.Value)
                        || (x.Operand.IsMemory && x.MemoryBase == x.EncodingRegister.Register)))
                    {
                        throw new ArgumentException($"{where}: one register cannot hold two different values.");
                    }

                    break;
            }
        }
    }
}
