using System;
using Iced.Intel;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// An assembler for one mode, with the few instructions whose operand size follows it: general registers named by
    /// <see cref="Gpr"/> are EAX… in 32-bit code and RAX… in 64-bit code, a <see cref="Word(ulong)"/> is a dword or a qword, a stack
    /// slot 4 or 8 bytes. The runtime routines and the program code are written once against it for both modes.
    /// </summary>
    private sealed class ModeAssembler(GuestMode mode)
    {
        private static readonly AssemblerRegister64[] R64 = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        private static readonly AssemblerRegister32[] R32 = [eax, ecx, edx, ebx, esp, ebp, esi, edi];

        /// <summary>The assembler, for the instructions that are the same in both modes.</summary>
        public Assembler A { get; } = new(mode == GuestMode.Long64 ? 64 : 32);

        public GuestMode Mode => mode;

        /// <summary>64-bit mode (with the L1 guest, SS reloads and <c>iretq</c>); otherwise 32-bit protected mode.</summary>
        public bool Long => mode == GuestMode.Long64;

        /// <summary>The operand and stack-slot size in bits.</summary>
        public int Bits => Long ? 64 : 32;

        /// <summary>A stack slot in bytes.</summary>
        public uint Slot => Long ? 8u : 4u;

        /// <summary>This mode's ring-0 code segment, its TSS and its IDT descriptor.</summary>
        public byte CodeSelector => Long ? Selector64 : Selector32;

        public byte TssSelector => Long ? SelectorTss64 : SelectorTss32;

        public byte UserCodeSelector => Long ? SelectorUser64 : SelectorUser32;

        public uint IdtDescriptor => Long ? L.Idt64Descriptor : L.Idt32Descriptor;

        /// <summary>A stack-width memory operand at an absolute address.</summary>
        public AssemblerMemoryOperand Word(ulong address) => Long ? __qword_ptr[address] : __dword_ptr[address];

        /// <summary>A stack-width memory operand at a given one's address.</summary>
        public AssemblerMemoryOperand Word(AssemblerMemoryOperand memory) => Long ? __qword_ptr[memory] : __dword_ptr[memory];

        /// <summary>The stack slot <paramref name="slot"/> slots above the stack pointer.</summary>
        public AssemblerMemoryOperand Stack(int slot) => (Long, slot) switch
        {
            (true, 0) => __qword_ptr[rsp],
            (true, _) => __qword_ptr[rsp + (slot * 8)],
            (false, 0) => __dword_ptr[esp],
            _ => __dword_ptr[esp + (slot * 4)],
        };

        /// <summary>A memory operand addressed by a register.</summary>
        public AssemblerMemoryOperand At(Gpr register) => Long ? __[Q(register)] : __[D(register)];

        private static AssemblerRegister64 Q(Gpr register) => R64[(int)register];

        private static AssemblerRegister32 D(Gpr register) => R32[(int)register];

        /// <summary>Emits the 64-bit form or the 32-bit form of an instruction.</summary>
        private void By(Action long64, Action protected32)
        {
            if (Long)
            {
                long64();
            }
            else
            {
                protected32();
            }
        }

        public void Mov(Gpr destination, AssemblerMemoryOperand source) => By(() => A.mov(Q(destination), source), () => A.mov(D(destination), source));

        public void Mov(AssemblerMemoryOperand destination, Gpr source) => By(() => A.mov(destination, Q(source)), () => A.mov(destination, D(source)));

        public void Mov(Gpr destination, Gpr source) => By(() => A.mov(Q(destination), Q(source)), () => A.mov(D(destination), D(source)));

        /// <summary>Loads a register with a value (truncated to 32 bits in 32-bit code).</summary>
        public void Load(Gpr register, ulong value) => By(() => A.mov(Q(register), value), () => A.mov(D(register), (uint)value));

        /// <summary>Sets the stack pointer.</summary>
        public void SetStack(uint top) => By(() => A.mov(rsp, top), () => A.mov(esp, top));

        /// <summary>Stores a register as a qword: in 32-bit code its dword and a zero high half.</summary>
        public void StoreQword(uint address, Gpr source)
        {
            Mov(Word(address), source);
            if (!Long)
            {
                A.mov(__dword_ptr[(ulong)address + 4], 0u);
            }
        }

        public void Push(Gpr register) => By(() => A.push(Q(register)), () => A.push(D(register)));

        public void Pop(Gpr register) => By(() => A.pop(Q(register)), () => A.pop(D(register)));

        public void PushFlags() => By(A.pushfq, A.pushfd);

        /// <summary>Stores RFLAGS/EFLAGS at <paramref name="address"/>.</summary>
        public void StoreFlags(uint address)
        {
            PushFlags();
            A.pop(Word(address));
        }

        public void Shr(Gpr register, AssemblerRegister8 count) => By(() => A.shr(Q(register), count), () => A.shr(D(register), count));

        /// <summary>Compares a register with an address below 2 GiB.</summary>
        public void Cmp(Gpr register, uint address) => By(() => A.cmp(Q(register), (int)address), () => A.cmp(D(register), address));

        public void Jmp(Gpr register) => By(() => A.jmp(Q(register)), () => A.jmp(D(register)));

        public void Iret() => By(() => A.AddInstruction(Instruction.Create(Code.Iretq)), A.iretd);

        /// <summary>VMREAD into a register, or into memory (a dword or a qword by the mode).</summary>
        public void Vmread(Gpr destination, Gpr encoding) => By(() => A.vmread(Q(destination), Q(encoding)), () => A.vmread(D(destination), D(encoding)));

        public void Vmread(AssemblerMemoryOperand destination, Gpr encoding) =>
            By(() => A.vmread(destination, Q(encoding)), () => A.vmread(destination, D(encoding)));

        public void Vmwrite(Gpr encoding, Gpr source) => By(() => A.vmwrite(Q(encoding), Q(source)), () => A.vmwrite(D(encoding), D(source)));

        public void Vmwrite(Gpr encoding, AssemblerMemoryOperand source) => By(() => A.vmwrite(Q(encoding), source), () => A.vmwrite(D(encoding), source));

        /// <summary>Writes the text to port 0xE9, one <c>out</c> a character.</summary>
        public void Print(string text) => ImageBuilder.Print(A, text);

        /// <summary>Assembles at <paramref name="rip"/> with the labels' addresses.</summary>
        public AssemblerResult Assemble(ulong rip, out byte[] code)
        {
            using var stream = new System.IO.MemoryStream();
            var result = A.Assemble(new StreamCodeWriter(stream), rip, BlockEncoderOptions.ReturnNewInstructionOffsets);
            code = stream.ToArray();
            return result;
        }
    }
}
