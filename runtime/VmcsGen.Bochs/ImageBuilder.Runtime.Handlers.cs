using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>Where the exception handlers keep the vector, error code and faulting RIP while they print.</summary>
    private const uint TmpVector = L.VarExitInfo, TmpError = L.VarExitInfo + 8, TmpRip = L.VarExitInfo + 16;

    /// <summary>Exceptions that push an error code.</summary>
    private static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21 or 29 or 30;

    /// <summary>
    /// Return (IDT gate 0x81, DPL 3): <c>int 0x81</c> from CPL 3 continues after it at CPL 0 on the CPL-3 stack (the
    /// interrupt frame's return address and stack pointer). Iret: the <c>iret</c> to CPL 3 that program code calls with a frame
    /// it pushed.
    /// </summary>
    private static void EmitReturnGates(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        a.Label(ref labels.Return);
        m.Mov(Gpr.Rax, m.Stack(0));
        m.Mov(Gpr.Rsp, m.Stack(3));
        if (m.Long)
        {
            a.mov(cx, SelectorData);
            a.mov(ss, cx);
        }

        m.Jmp(Gpr.Rax);

        a.Label(ref labels.Iret);
        m.Iret();
    }

    /// <summary>
    /// The 32 exception handlers: each pushes its vector (and a zero error code where the CPU pushes none) and goes to one
    /// common part, which prints <c>X id vector error</c> and ends the step, or, for a fault outside the program code (a
    /// runner bug), prints <c>F vector error rip</c> and shuts down.
    /// </summary>
    private static void EmitExceptionHandlers(ModeAssembler m, RoutineLabels labels)
    {
        var a = m.A;
        for (var v = 0; v < 32; v++)
        {
            labels.Stubs[v] = a.CreateLabel();
            a.Label(ref labels.Stubs[v]);
            if (!HasErrorCode(v))
            {
                a.push(0);
            }

            a.push(v);
            a.jmp(labels.Common);
        }

        a.Label(ref labels.Common);
        var fatal = a.CreateLabel();
        var silent = a.CreateLabel();
        a.pop(m.Word(TmpVector));
        a.pop(m.Word(TmpError));
        m.Mov(Gpr.Rax, m.Stack(0));
        m.Mov(m.Word(TmpRip), Gpr.Rax);
        m.Cmp(Gpr.Rax, L.ProgramsStart);
        a.jb(fatal);
        m.Cmp(Gpr.Rax, L.ImageEnd);
        a.jae(fatal);
        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(silent);
        m.Print("\nX ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(labels.Hex);
        PrintVariables(m, labels, TmpVector, TmpError);
        a.Label(ref silent);
        if (m.Long)
        {
            a.mov(ax, SelectorData); // from CPL 3 SS is null, whose 16-bit stack would wrap once back in 32-bit code
            a.mov(ss, ax);
        }

        EndStep(m);
        a.Label(ref fatal);
        m.Print("\nF ");
        m.Mov(Gpr.Rax, m.Word(TmpVector));
        a.call(labels.Hex);
        PrintVariables(m, labels, TmpError, TmpRip);
        a.jmp(labels.Shutdown);
    }

    /// <summary>Prints " value" for each stack-width variable in hex, then the end of the line.</summary>
    private static void PrintVariables(ModeAssembler m, RoutineLabels labels, params uint[] addresses)
    {
        foreach (var address in addresses)
        {
            m.Print(" ");
            m.Mov(Gpr.Rax, m.Word(address));
            m.A.call(labels.Hex);
        }

        m.Print("\n");
    }
}
