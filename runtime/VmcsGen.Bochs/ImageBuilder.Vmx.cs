using System;
using Iced.Intel;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// One VMX instruction with its operands as <see cref="VmxInstruction"/> gives them, at CPL 0 or 3 (an <c>iret</c> to
    /// CPL 3 before it, <c>int 0x81</c> back after it), leaving RFLAGS in <see cref="GuestLayout.VarFlags"/> and a VMREAD's
    /// or VMPTRST's result in <see cref="GuestLayout.VarValue"/>.
    /// </summary>
    private static void EmitVmx(ModeAssembler m, VmxInstruction x, ModeRuntime runtime)
    {
        var a = m.A;
        if (x.Cpl == 3)
        {
            // iret to CPL 3 on the same stack; the instruction after the call is the CPL-3 code.
            m.Mov(Gpr.Rax, Gpr.Rsp);
            a.push(SelectorUserData);
            m.Push(Gpr.Rax);
            m.PushFlags();
            a.push(m.UserCodeSelector);
            a.call(runtime.Iret);
        }

        if (x.HasEncoding)
        {
            m.Load(x.EncodingRegister.Register, x.EncodingRegister.Value);
        }

        AssemblerMemoryOperand memory = default;
        if (x.HasOperand)
        {
            if (x.Operand.IsMemory)
            {
                if (x.MemoryBase is { } b)
                {
                    m.Load(b, x.Operand.Address);
                    memory = m.At(b);
                }
                else
                {
                    memory = __[x.Operand.Address];
                }
            }
            else if (x.Opcode == VmxOpcode.Vmwrite || x.Opcode == VmxOpcode.Vmread)
            {
                m.Load(x.Operand.Register, x.Operand.Value);
            }
        }

        var mem64 = __qword_ptr[memory];
        var encoding = x.HasEncoding ? x.EncodingRegister.Register : Gpr.Rax;
        Action instruction = x.Opcode switch
        {
            VmxOpcode.Vmxon => () => a.vmxon(mem64),
            VmxOpcode.Vmxoff => a.vmxoff,
            VmxOpcode.Vmclear => () => a.vmclear(mem64),
            VmxOpcode.Vmptrld => () => a.vmptrld(mem64),
            VmxOpcode.Vmptrst => () => a.vmptrst(mem64),
            VmxOpcode.Vmlaunch => a.vmlaunch,
            VmxOpcode.Vmresume => a.vmresume,
            VmxOpcode.Vmread when x.Operand.IsMemory => () => m.Vmread(m.Word(memory), encoding),
            VmxOpcode.Vmread => () => m.Vmread(x.Operand.Register, encoding),
            VmxOpcode.Vmwrite when x.Operand.IsMemory => () => m.Vmwrite(encoding, m.Word(memory)),
            VmxOpcode.Vmwrite => () => m.Vmwrite(encoding, x.Operand.Register),
            _ => static () => { }, // not a VMX opcode: no instruction, the step records the flags as they are
        };
        instruction();

        // The value a VMREAD produced in a register (before anything else touches it).
        if (x.Opcode == VmxOpcode.Vmread && !x.Operand.IsMemory)
        {
            m.StoreQword(L.VarValue, x.Operand.Register);
        }

        m.StoreFlags(L.VarFlags);
        if (x.Cpl == 3)
        {
            a.@int(0x81); // back to CPL 0 where the CPL-3 code left off
        }

        // The value a VMREAD or VMPTRST stored in memory (only reached when the instruction did not fault).
        if (x.Operand.IsMemory && x.Opcode is VmxOpcode.Vmread or VmxOpcode.Vmptrst)
        {
            // Only after VMsucceed (CF = ZF = 0): a failed instruction wrote nothing, and its operand may be the not-present page.
            var skip = a.CreateLabel();
            a.test(__byte_ptr[(ulong)L.VarFlags], 0x41);
            a.jnz(skip);
            var address = x.Operand.Address;
            a.mov(eax, __dword_ptr[address]);
            a.mov(__dword_ptr[(ulong)L.VarValue], eax);
            if (m.Long || x.Opcode == VmxOpcode.Vmptrst)
            {
                a.mov(eax, __dword_ptr[address + 4]);
                a.mov(__dword_ptr[(ulong)L.VarValue + 4], eax);
            }
            else
            {
                a.mov(__dword_ptr[(ulong)L.VarValue + 4], 0u);
            }

            a.Label(ref skip);
            a.nop();
        }
    }
}
