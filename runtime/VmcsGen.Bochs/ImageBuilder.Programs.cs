using System;
using System.Collections.Generic;
using Iced.Intel;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// A program's code in its mode: zero the data area, a P record, each step (setup steps inline, recorded steps as
    /// bodies the runtime can abandon), then VMXOFF. Adds a <see cref="StepRef"/> per recorded step to <paramref name="steps"/>.
    /// </summary>
    private static Assembler EmitProgram(GuestProgram program, int index, List<StepRef> steps, Runtime runtimes)
    {
        var m = new ModeAssembler(program.Mode);
        var a = m.A;
        var runtime = runtimes.For(program.Mode);
        SetId(a, SilentId);

        // Zero the data area around the not-present page.
        foreach (var (from, to) in new[] { (L.DataStart, L.NotPresentPage), (L.NotPresentPage + 0x1000, L.DataEnd) })
        {
            a.mov(edi, (uint)from);
            a.xor(eax, eax);
            a.mov(ecx, (uint)((to - from) / 4));
            a.rep.stosd();
        }

        a.mov(eax, (uint)index);
        a.call(runtime.Program);

        var end = a.CreateLabel();
        for (var s = 0; s < program.Steps.Count; s++)
        {
            var step = program.Steps[s];
            if (step.IsRecorded)
            {
                SetId(a, (uint)steps.Count);
                steps.Add(new StepRef(index, s));
                Recorded(a, () => EmitRecorded(m, step, runtime, end));
            }
            else
            {
                EmitSetup(a, step);
            }
        }

        // Leave VMX operation (silently; #UD outside it). A guest's VMXOFF exits to the landing, which comes back to "end"
        // once more, now in VMX root operation.
        a.nop(); // one label per instruction: the last step's "next" is on this one
        a.Label(ref end);
        SetId(a, SilentId);
        Recorded(a, () => a.vmxoff());
        if (program.HasGuest)
        {
            a.mov(__qword_ptr[(ulong)L.VarExitTarget], 0);
            a.mov(__qword_ptr[(ulong)L.VarInGuest], 0);
            Recorded(a, () => a.vmxoff());
        }

        a.nop(); // the last label needs an instruction
        return a;
    }

    /// <summary>The id the next record (or exception) is printed with; <see cref="SilentId"/> prints none.</summary>
    private static void SetId(Assembler a, uint id) => a.mov(__dword_ptr[(ulong)L.VarId], id);

    /// <summary>
    /// A recorded step: <c>call body; jmp next; body: …; ret</c>. The exception handlers and the VM-exit landing end a step
    /// by resetting the stack to just below its top and returning, which lands on the <c>jmp next</c> through the
    /// return address the call left at the top of the stack.
    /// </summary>
    private static void Recorded(Assembler a, Action body)
    {
        var bodyLabel = a.CreateLabel();
        var next = a.CreateLabel();
        a.call(bodyLabel);
        a.jmp(next);
        a.Label(ref bodyLabel);
        body();
        a.ret();
        a.Label(ref next);
    }

    private static void EmitSetup(Assembler a, GuestStep step)
    {
        switch (step)
        {
            case MemoryWrite w:
                switch (w.Size)
                {
                    case 1:
                        a.mov(__byte_ptr[w.Address], (byte)w.Value);
                        break;
                    case 2:
                        a.mov(__word_ptr[w.Address], (ushort)w.Value);
                        break;
                    case 4:
                        a.mov(__dword_ptr[w.Address], (uint)w.Value);
                        break;
                    default:
                        a.mov(__dword_ptr[w.Address], (uint)w.Value);
                        a.mov(__dword_ptr[w.Address + 4], (uint)(w.Value >> 32));
                        break;
                }

                break;
            case MemoryBytes b:
                for (var i = 0; i < b.Data.Length; i += 4)
                {
                    var chunk = new byte[4];
                    b.Data.AsSpan(i, Math.Min(4, b.Data.Length - i)).CopyTo(chunk);
                    if (i + 4 <= b.Data.Length)
                    {
                        a.mov(__dword_ptr[b.Address + (ulong)i], BitConverter.ToUInt32(chunk));
                    }
                    else
                    {
                        for (var j = 0; i + j < b.Data.Length; j++)
                        {
                            a.mov(__byte_ptr[b.Address + (ulong)(i + j)], chunk[j]);
                        }
                    }
                }

                break;
            case PhysicalBytes p:
                p.Validate();
                EmitSetup(a, new MemoryBytes(p.Address, p.Data));
                break;
            case MemoryCopy c:
                a.mov(esi, (uint)c.From);
                a.mov(edi, (uint)c.To);
                a.mov(ecx, (uint)c.Count);
                a.rep.movsb();
                break;
            default:
                throw new ArgumentException($"Unknown setup step {step}.", nameof(step));
        }
    }

    /// <summary>A recorded step's body: the instruction, its flags and results in the variables, a call to the runtime's R record.</summary>
    private static void EmitRecorded(ModeAssembler m, GuestStep step, ModeRuntime runtime, Label end)
    {
        var a = m.A;
        switch (step)
        {
            case EnterGuest:
                EmitEnterGuest(m, runtime, end);
                return;
            case MsrRead msr:
                a.mov(ecx, msr.Index);
                a.rdmsr();
                RecordRegisters(m, runtime, (L.VarValue, eax), (L.VarValue + 4, edx));
                return;
            case CpuidRead c:
                a.mov(eax, c.Leaf);
                a.xor(ecx, ecx);
                a.cpuid();
                RecordRegisters(m, runtime, (L.VarValue, eax), (L.VarValue + 4, ebx), (L.VarValue2, ecx), (L.VarValue2 + 4, edx));
                return;
            case VmxInstruction x:
                EmitVmx(m, x, runtime);
                a.call(runtime.RecordVmx);
                return;
            default:
                throw new ArgumentException($"Unknown step {step}.", nameof(step));
        }
    }

    /// <summary>Stores the registers' dwords in the record's variables, then the flags, and prints the R record.</summary>
    private static void RecordRegisters(ModeAssembler m, ModeRuntime runtime, params (uint Address, AssemblerRegister32 Register)[] stores)
    {
        foreach (var (address, register) in stores)
        {
            m.A.mov(__dword_ptr[(ulong)address], register);
        }

        m.StoreFlags(L.VarFlags);
        m.A.call(runtime.Record);
    }

    /// <summary>
    /// VMLAUNCH into an L1 guest that goes on with the program's next steps (64-bit only). GUEST_RIP is the code after the
    /// launch, GUEST_RSP the body's stack; from now on a VM exit ends the program (the landing jumps to <paramref name="end"/>).
    /// </summary>
    private static void EmitEnterGuest(ModeAssembler m, ModeRuntime runtime, Label end)
    {
        var a = m.A;
        var guest = a.CreateLabel();
        a.lea(rax, __[end]);
        a.mov(__qword_ptr[(ulong)L.VarExitTarget], rax);
        a.lea(rax, __[guest]);
        a.mov(ecx, 0x681E); // GUEST_RIP
        a.vmwrite(rcx, rax);
        a.mov(rax, rsp);
        a.mov(ecx, 0x681C); // GUEST_RSP: the body's stack, with its return address on top
        a.vmwrite(rcx, rax);
        a.vmlaunch();
        m.StoreFlags(L.VarFlags);
        a.call(runtime.RecordVmx);
        a.ret();
        a.Label(ref guest); // VMLAUNCH succeeded: the guest records it and returns into the program
        a.mov(__qword_ptr[(ulong)L.VarInGuest], 1);
        a.mov(__qword_ptr[(ulong)L.VarFlags], 2);
        a.mov(__qword_ptr[(ulong)L.VarValue], 0);
        a.call(runtime.Record);
    }
}
