using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>What an E record prints after the id: exit reason, qualification, instruction information, guest RIP, instruction length.</summary>
    private static readonly uint[] ExitFields = [VmcsEncoding.ExitReason, VmcsEncoding.ExitQualification, 0x440E, 0x681E, 0x440C];

    /// <summary>
    /// RecordVmx and Record: <c>R id rflags value aux</c>, aux being the VM-instruction error after VMfailValid (ZF; not
    /// readable in an L1 guest), else what the step stored in <see cref="GuestLayout.VarValue2"/>.
    /// </summary>
    private static void EmitRecord(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        a.Label(ref labels.RecordVmx);
        a.test(__byte_ptr[(ulong)L.VarFlags], 0x40);
        a.jz(labels.Record);
        if (m.Long)
        {
            var readable = a.CreateLabel();
            a.cmp(__byte_ptr[(ulong)L.VarInGuest], 0);
            a.je(readable);
            a.mov(__qword_ptr[(ulong)L.VarValue2], unchecked((int)InstructionRecord.ErrorNotReadable)); // in the guest: not readable
            a.mov(__dword_ptr[(ulong)L.VarValue2 + 4], 0u);
            a.jmp(labels.Record);
            a.Label(ref readable);
        }

        a.mov(ecx, VmcsEncoding.VmInstructionError);
        m.Vmread(Gpr.Rax, Gpr.Rcx);
        m.StoreQword(L.VarValue2, Gpr.Rax);
        a.Label(ref labels.Record);
        m.Print("R ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(labels.Hex);
        foreach (var variable in new[] { L.VarFlags, L.VarValue, L.VarValue2 })
        {
            m.Print(" ");
            PrintQword(m, labels, variable);
        }

        m.Print("\n");
        a.ret();
    }

    /// <summary>
    /// The VM-exit landing (HOST_RIP): <c>E id reason qualification information guest-rip instruction-length</c>, then the
    /// step ends (the stack reset below the body's return address); in 64-bit mode a program whose L1 guest exited ends.
    /// </summary>
    private static void EmitVmExit(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        var quiet = a.CreateLabel();
        a.Label(ref labels.VmExit);
        if (m.Long)
        {
            a.mov(__qword_ptr[(ulong)L.VarInGuest], 0);
        }
        else
        {
            a.mov(ax, SelectorUserData);
            a.mov(ds, ax);
            a.mov(es, ax);
        }

        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(quiet);
        m.Print("\nE ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(labels.Hex);
        foreach (var field in ExitFields)
        {
            m.Print(" ");
            a.mov(ecx, field);
            m.Vmread(Gpr.Rax, Gpr.Rcx);
            a.call(labels.Hex);
        }

        m.Print("\n");
        a.Label(ref quiet);
        if (m.Long)
        {
            var plain = a.CreateLabel();
            a.mov(rax, __qword_ptr[(ulong)L.VarExitTarget]); // a guest's program ends at its first exit
            a.test(rax, rax);
            a.jz(plain);
            a.mov(rsp, L.StackTop);
            a.jmp(rax);
            a.Label(ref plain);
        }

        EndStep(m);
    }

    /// <summary>Ends a recorded step: the stack pointer back at the body's return address (which lands on the step's <c>jmp next</c>), and return.</summary>
    private static void EndStep(ModeAssembler m)
    {
        m.SetStack(L.StackTop - m.Slot);
        m.A.ret();
    }

    /// <summary>Program: <c>P index</c> (the index in EAX).</summary>
    private static void EmitProgramStart(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        a.Label(ref labels.Program);
        m.Push(Gpr.Rax);
        m.Print("P ");
        m.Pop(Gpr.Rax);
        a.call(labels.Hex);
        m.Print("\n");
        a.ret();
    }

    /// <summary>Prints the qword at <paramref name="address"/> in hex (in 32-bit code through Hex64 and ESI).</summary>
    private static void PrintQword(ModeAssembler m, RoutineLabels labels, uint address)
    {
        if (m.Long)
        {
            m.A.mov(rax, __qword_ptr[(ulong)address]);
            m.A.call(labels.Hex);
        }
        else
        {
            m.A.mov(esi, address);
            m.A.call(labels.Hex64);
        }
    }

    /// <summary>
    /// Hex: the accumulator (EAX or RAX) in hex without leading zeros: skip the zero digits from the top, then print from
    /// bit CL + 3 down. The 32-bit runtime also has Hex64, the qword at [ESI]: its high dword, then all eight digits of the low one.
    /// </summary>
    private static void EmitHex(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        var skip = a.CreateLabel();
        var decimalDigit = a.CreateLabel();
        a.Label(ref labels.Hex);
        m.Mov(Gpr.Rbx, Gpr.Rax);
        a.mov(ecx, m.Bits - 4);
        a.Label(ref skip);
        m.Mov(Gpr.Rax, Gpr.Rbx);
        m.Shr(Gpr.Rax, cl);
        a.test(al, 0xF);
        a.jnz(labels.HexDigits);
        a.sub(ecx, 4);
        a.jnz(skip);
        a.Label(ref labels.HexDigits);
        m.Mov(Gpr.Rax, Gpr.Rbx);
        m.Shr(Gpr.Rax, cl);
        a.and(eax, 0xF);
        a.cmp(al, 10);
        a.jb(decimalDigit);
        a.add(al, 39);
        a.Label(ref decimalDigit);
        a.add(al, 0x30);
        a.@out(0xE9, al);
        a.sub(ecx, 4);
        a.jns(labels.HexDigits);
        a.ret();
        if (m.Long)
        {
            return;
        }

        var low = a.CreateLabel();
        a.Label(ref labels.Hex64);
        a.mov(eax, __dword_ptr[esi + 4]);
        a.test(eax, eax);
        a.jz(low);
        a.call(labels.Hex);
        a.mov(ebx, __dword_ptr[esi]);
        a.mov(ecx, 28);
        a.jmp(labels.HexDigits);
        a.Label(ref low);
        a.mov(eax, __dword_ptr[esi]);
        a.jmp(labels.Hex);
    }
}
