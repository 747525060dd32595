using Iced.Intel;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// The 32-bit runtime's entries. Entry, from the boot sector: flat segments, page tables for both modes, CR0.NE,
    /// IA32_FEATURE_CONTROL, then 64-bit mode (programs start there). Resume, from 64-bit mode (a far return into the 32-bit
    /// code segment): leave IA-32e mode for 32-bit paging. Switch, called from 32-bit program code: continue at the return
    /// address in 64-bit mode.
    /// </summary>
    private static void EmitProtectedEntries(ModeAssembler m, RoutineLabels labels, ModeRuntime longRuntime)
    {
        var a = m.A;
        a.Label(ref labels.Entry);
        LoadSegments(m, SelectorData, SelectorData);
        EmitPageTables(a);
        a.mov(eax, 0x31); // PE, ET, NE: a known CR0 (HOST_CR0 in GuestLayout.HostState)
        a.mov(cr0, eax);
        var locked = a.CreateLabel();
        a.mov(ecx, 0x3A); // IA32_FEATURE_CONTROL: lock, VMXON outside SMX
        a.rdmsr();
        a.test(al, 1);
        a.jnz(locked);
        a.or(eax, 5);
        a.wrmsr();
        a.Label(ref locked);
        a.mov(eax, GuestLayout.Cr4Long); // VMXE, PAE, PSE
        a.mov(cr4, eax);
        EnterLong(a, longRuntime.Entry);

        a.Label(ref labels.Resume);
        a.mov(eax, cr0);
        a.and(eax, 0x7FFF_FFFF);
        a.mov(cr0, eax);
        a.mov(ecx, 0xC000_0080);
        a.rdmsr();
        a.and(eax, ~0x100);
        a.wrmsr();
        a.mov(eax, GuestLayout.Cr4Protected);
        a.mov(cr4, eax);
        a.mov(eax, L.Pd32);
        a.mov(cr3, eax);
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)0x8000_0000));
        a.mov(cr0, eax);
        LoadSegments(m, SelectorUserData, SelectorData);
        LoadTables(m, clearBusy: true);
        a.jmp(__dword_ptr[(ulong)L.VarCont]);

        a.Label(ref labels.Switch);
        SaveContinuation(m);
        a.mov(eax, cr0);
        a.and(eax, 0x7FFF_FFFF);
        a.mov(cr0, eax);
        a.mov(eax, GuestLayout.Cr4Long);
        a.mov(cr4, eax);
        EnterLong(a, longRuntime.Resume);
    }

    /// <summary>
    /// The 64-bit runtime's entries. Entry, the first from 32-bit code: segments, IDT, TSS, the stream's header line, then
    /// the programs. Resume, back from 32-bit mode: continue where the switch was called. Switch, called from 64-bit program
    /// code: continue at the return address in 32-bit mode (a far return to the 32-bit runtime's Resume).
    /// </summary>
    private static void EmitLongEntries(ModeAssembler m, RoutineLabels labels, ModeRuntime protectedRuntime)
    {
        var a = m.A;
        a.Label(ref labels.Entry);
        LoadSegments(m, SelectorData, SelectorData);
        LoadTables(m, clearBusy: false);
        m.Print(Header + "\n");
        a.jmp((ulong)L.ProgramsStart);

        a.Label(ref labels.Resume);
        LoadSegments(m, SelectorData, SelectorData);
        LoadTables(m, clearBusy: true);
        a.mov(eax, __dword_ptr[(ulong)L.VarCont]);
        a.jmp(rax);

        a.Label(ref labels.Switch);
        SaveContinuation(m);
        a.push(Selector32);
        a.push((int)protectedRuntime.Resume);
        a.AddInstruction(Instruction.Create(Code.Retfq));
    }

    /// <summary>DS and ES, SS, and the stack pointer at the top of the stack.</summary>
    private static void LoadSegments(ModeAssembler m, byte data, byte stack)
    {
        var a = m.A;
        a.mov(ax, data);
        a.mov(ds, ax);
        a.mov(es, ax);
        if (stack != data)
        {
            a.mov(ax, stack);
        }

        a.mov(ss, ax);
        m.SetStack(L.StackTop);
    }

    /// <summary>This mode's IDT and TSS; a TSS loaded before (in the other mode's last visit) is busy and must be made available first.</summary>
    private static void LoadTables(ModeAssembler m, bool clearBusy)
    {
        var a = m.A;
        a.lidt(__[(ulong)m.IdtDescriptor]);
        if (clearBusy)
        {
            a.and(__byte_ptr[(ulong)L.Gdt + m.TssSelector + 5], unchecked((byte)~2));
        }

        a.mov(ax, m.TssSelector);
        a.ltr(ax);
    }

    /// <summary>Pops the caller's return address into <see cref="GuestLayout.VarCont"/>, where the other mode continues.</summary>
    private static void SaveContinuation(ModeAssembler m)
    {
        m.Pop(Gpr.Rax);
        m.A.mov(__dword_ptr[(ulong)L.VarCont], eax);
    }

    /// <summary>
    /// Identity-mapped page tables for both modes, user and writable: 4-level (2 MiB pages, 2-4 MiB in 4 KiB pages) and
    /// 32-bit (4 MiB pages, 0-4 MiB in 4 KiB pages), <see cref="GuestLayout.NotPresentPage"/> not present in either.
    /// </summary>
    private static void EmitPageTables(Assembler a)
    {
        a.mov(edi, L.Pml4);
        a.xor(eax, eax);
        a.mov(ecx, 6 * 1024);
        a.rep.stosd();
        a.mov(__dword_ptr[(ulong)L.Pml4], L.Pdpt | 7);
        a.mov(__dword_ptr[(ulong)L.Pdpt], L.Pd64 | 7);
        Fill(a, L.Pd64, 0x87, 0x20_0000, 512, 8); // 2 MiB pages, user, writable
        a.mov(__dword_ptr[(ulong)L.Pd64 + 8], L.Pt64 | 7); // 2-4 MiB in 4 KiB pages
        Fill(a, L.Pt64, 0x20_0007, 0x1000, 512, 8);
        a.mov(__dword_ptr[L.Pt64 + ((L.NotPresentPage - 0x20_0000) >> 12) * 8], 0u);
        Fill(a, L.Pd32, 0x87, 0x40_0000, 1024, 4); // 4 MiB pages
        a.mov(__dword_ptr[(ulong)L.Pd32], L.Pt32 | 7); // 0-4 MiB in 4 KiB pages
        Fill(a, L.Pt32, 7, 0x1000, 1024, 4);
        a.mov(__dword_ptr[L.Pt32 + (L.NotPresentPage >> 12) * 4], 0u);
    }

    /// <summary>A loop storing <paramref name="count"/> entries first, first + step, … of <paramref name="entrySize"/> bytes (the low dwords).</summary>
    private static void Fill(Assembler a, uint table, uint first, uint step, int count, int entrySize)
    {
        var loop = a.CreateLabel();
        a.mov(edi, table);
        a.mov(eax, first);
        a.mov(ecx, count);
        a.Label(ref loop);
        a.mov(__dword_ptr[edi], eax);
        a.add(eax, step);
        a.add(edi, entrySize);
        a.dec(ecx);
        a.jnz(loop);
    }

    /// <summary>From 32-bit code with paging off and CR4.PAE set: CR3 = the PML4, EFER.LME, paging on, far jump to 64-bit code.</summary>
    private static void EnterLong(Assembler a, ulong target)
    {
        a.mov(eax, L.Pml4);
        a.mov(cr3, eax);
        a.mov(ecx, 0xC000_0080);
        a.rdmsr();
        a.or(eax, 0x100);
        a.wrmsr();
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)0x8000_0000));
        a.mov(cr0, eax);
        a.AddInstruction(Instruction.CreateBranch(Code.Jmp_ptr1632, Selector64, (uint)target));
    }
}
