using System;
using System.Collections.Generic;
using System.IO;
using Iced.Intel;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

/// <summary>
/// Builds the boot floppy: a real-mode boot sector that loads the rest with BIOS int 13h, runtime code for 32-bit
/// protected mode and 64-bit mode (mode switches, IDTs that record an exception and resume, the result records), and
/// the programs' code, all assembled with Iced. Descriptor tables are data written here.
/// </summary>
internal static class ImageBuilder
{
    public const int FloppyBytes = 1_474_560;
    public const int SectorsPerTrack = 18, Heads = 2;

    /// <summary>The first line of every result stream: the record format's name and version.</summary>
    public const string Header = "VMCSGEN-BOCHS 1";

    private const byte Selector32 = 0x08, SelectorData = 0x10, Selector64 = 0x18, SelectorUser32 = 0x23, SelectorUserData = 0x2B, SelectorUser64 = 0x33,
        SelectorTss64 = 0x38, SelectorTss32 = 0x48;

    private const uint SilentId = 0xFFFF_FFFF;
    private const uint TmpVector = L.VarExitInfo, TmpError = L.VarExitInfo + 8, TmpRip = L.VarExitInfo + 16;

    /// <summary>What an E record prints after the id: exit reason, qualification, instruction information, guest RIP, instruction length.</summary>
    private static readonly uint[] ExitFields = [VmcsEncoding.ExitReason, VmcsEncoding.ExitQualification, 0x440E, 0x681E, 0x440C];

    /// <summary>The VM-exit landing (HOST_RIP) of each mode's runtime.</summary>
    public static ulong VmExitHost(GuestMode mode) => mode == GuestMode.Long64 ? Runtimes.Value.VmExit64 : Runtimes.Value.VmExit32;

    private static readonly AssemblerRegister64[] R64 = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
    private static readonly AssemblerRegister32[] R32 = [eax, ecx, edx, ebx, esp, ebp, esi, edi];

    /// <summary>Exceptions that push an error code.</summary>
    private static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21 or 29 or 30;

    /// <summary>The assembled runtimes (both modes), fixed for every image.</summary>
    private static readonly Lazy<Runtime> Runtimes = new(BuildRuntimes);

    /// <summary>One recorded step of an image: which program and which of its steps.</summary>
    public readonly record struct StepRef(int Program, int Step);

    /// <summary>
    /// Assembles as many programs from <paramref name="first"/> on as fit in one image (at least one, or throws) and
    /// returns the floppy; <paramref name="steps"/> maps each record id to its program (absolute index) and step.
    /// </summary>
    public static byte[] Build(IReadOnlyList<GuestProgram> programs, int first, out int count, out List<StepRef> steps)
    {
        var runtime = Runtimes.Value;
        steps = [];
        var segments = new List<byte[]>();
        ulong at = L.ProgramsStart;
        var mode = GuestMode.Long64;
        count = 0;
        const int reserve = 16; // the final mode switch + call to shutdown
        for (var p = first; p < programs.Count; p++)
        {
            var program = programs[p];
            program.Validate();
            var a = new Assembler(program.Mode == GuestMode.Long64 ? 64 : 32);
            var stepCount = steps.Count;
            if (program.Mode != mode)
            {
                // The call's return address is the next segment's first byte: the switch routine continues there.
                var b = new Assembler(mode == GuestMode.Long64 ? 64 : 32);
                b.call(mode == GuestMode.Long64 ? runtime.SwitchTo32 : runtime.SwitchTo64);
                var sw = Assemble(b, at);
                if (at + (ulong)sw.Length + reserve > L.ImageEnd)
                {
                    break;
                }

                segments.Add(sw);
                at += (ulong)sw.Length;
                mode = program.Mode;
            }

            EmitProgram(a, program, p, steps, runtime);
            var code = Assemble(a, at);
            if (at + (ulong)code.Length + reserve > L.ImageEnd)
            {
                steps.RemoveRange(stepCount, steps.Count - stepCount);
                if (count == 0)
                {
                    throw new ArgumentException($"Program {p} alone does not fit in one boot image ({code.Length} bytes of code).", nameof(programs));
                }

                break;
            }

            segments.Add(code);
            at += (ulong)code.Length;
            count++;
        }

        if (count == 0 && first < programs.Count)
        {
            throw new ArgumentException($"Program {first} does not fit in one boot image.", nameof(programs));
        }

        var end = new Assembler(mode == GuestMode.Long64 ? 64 : 32);
        end.jmp(mode == GuestMode.Long64 ? runtime.Shutdown64 : runtime.Shutdown32);
        segments.Add(Assemble(end, at));

        var payload = new byte[L.ProgramsStart - L.ImageBase];
        WriteTables(payload, runtime);
        runtime.Code32.CopyTo(payload, (int)(L.Runtime32 - L.ImageBase));
        runtime.Code64.CopyTo(payload, (int)(L.Runtime64 - L.ImageBase));
        using var stream = new MemoryStream();
        stream.Write(payload);
        foreach (var s in segments)
        {
            stream.Write(s);
        }

        return Floppy(stream.ToArray());
    }

    /// <summary>A floppy whose payload (loaded at <see cref="GuestLayout.ImageBase"/>) is the given bytes, behind the boot sector.</summary>
    public static byte[] Floppy(byte[] payload)
    {
        var sectors = (payload.Length + 511) / 512;
        if (L.ImageBase + ((ulong)sectors * 512) > L.ImageEnd)
        {
            throw new ArgumentException($"The payload ({payload.Length} bytes) does not fit below 0x{L.ImageEnd:X}.", nameof(payload));
        }

        var image = new byte[FloppyBytes];
        BootSector(sectors).CopyTo(image, 0);
        payload.CopyTo(image, 512);
        return image;
    }

    private static byte[] Assemble(Assembler a, ulong rip)
    {
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), rip);
        return stream.ToArray();
    }

    // ---- the boot sector -------------------------------------------------------------------------------------------

    private static byte[] BootSector(int sectors)
    {
        var a = new Assembler(16);
        var load = a.CreateLabel();
        var fail = a.CreateLabel();
        a.cli();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(ss, ax);
        a.mov(sp, 0x7C00);
        a.mov(ax, (ushort)(L.ImageBase >> 4));
        a.mov(es, ax);
        a.mov(di, 1);
        a.mov(si, (ushort)sectors);
        a.Label(ref load);
        a.mov(ax, di); // LBA -> CHS: sector = lba % 18 + 1, head = lba / 18 % 2, cylinder = lba / 36
        a.xor(dx, dx);
        a.mov(bx, SectorsPerTrack);
        a.div(bx);
        a.mov(cl, dl);
        a.inc(cl);
        a.xor(dx, dx);
        a.mov(bx, Heads);
        a.div(bx);
        a.mov(ch, al);
        a.mov(dh, dl);
        a.xor(dl, dl);
        a.xor(bx, bx);
        a.mov(ax, 0x0201); // read one sector to ES:0
        a.@int(0x13);
        a.jc(fail);
        a.mov(ax, es);
        a.add(ax, 0x20);
        a.mov(es, ax);
        a.inc(di);
        a.dec(si);
        a.jnz(load);
        a.@in(al, 0x92); // A20 via the fast gate
        a.or(al, 2);
        a.@out(0x92, al);
        a.mov(ax, (ushort)(L.ImageBase >> 4));
        a.mov(ds, ax);
        a.lgdt(__[(ulong)(L.GdtDescriptor - L.ImageBase)]);
        a.mov(eax, cr0);
        a.or(eax, 1);
        a.mov(cr0, eax);
        a.AddInstruction(Instruction.CreateBranch(Code.Jmp_ptr1632, Selector32, (uint)Runtimes.Value.Entry32));
        a.Label(ref fail); // the disk read failed: say so and shut down
        a.mov(al, (byte)'L');
        a.@out(0xE9, al);
        a.mov(al, (byte)'\n');
        a.@out(0xE9, al);
        a.mov(dx, 0x8900);
        foreach (var c in "Shutdown")
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }

        a.hlt();
        var code = Assemble(a, 0x7C00);
        if (code.Length > 510)
        {
            throw new InvalidOperationException($"The boot sector is {code.Length} bytes.");
        }

        var sector = new byte[512];
        code.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    // ---- descriptor tables -----------------------------------------------------------------------------------------

    private static void WriteTables(byte[] payload, Runtime runtime)
    {
        void Put64(uint address, ulong value) => BitConverter.TryWriteBytes(payload.AsSpan((int)(address - L.ImageBase), 8), value);
        void Put32(uint address, uint value) => BitConverter.TryWriteBytes(payload.AsSpan((int)(address - L.ImageBase), 4), value);
        void Put16(uint address, ushort value) => BitConverter.TryWriteBytes(payload.AsSpan((int)(address - L.ImageBase), 2), value);

        Put64(L.Gdt + 0x08, 0x00CF_9A00_0000_FFFF); // 32-bit code, DPL 0
        Put64(L.Gdt + 0x10, 0x00CF_9200_0000_FFFF); // data, DPL 0
        Put64(L.Gdt + 0x18, 0x00AF_9A00_0000_FFFF); // 64-bit code, DPL 0
        Put64(L.Gdt + 0x20, 0x00CF_FA00_0000_FFFF); // 32-bit code, DPL 3
        Put64(L.Gdt + 0x28, 0x00CF_F200_0000_FFFF); // data, DPL 3
        Put64(L.Gdt + 0x30, 0x00AF_FA00_0000_FFFF); // 64-bit code, DPL 3
        Put64(L.Gdt + SelectorTss64, TssDescriptor(L.Tss64));
        Put64(L.Gdt + SelectorTss32, TssDescriptor(L.Tss32));
        Put16(L.GdtDescriptor, SelectorTss32 + 7);
        Put32(L.GdtDescriptor + 2, L.Gdt);

        Put64(L.Tss64 + 4, L.InterruptStackTop); // RSP0
        Put16(L.Tss64 + 0x66, 0x68); // no I/O bitmap
        Put32(L.Tss32 + 4, L.InterruptStackTop); // ESP0
        Put32(L.Tss32 + 8, SelectorData); // SS0
        Put16(L.Tss32 + 0x66, 0x68);

        for (var v = 0; v < 256; v++)
        {
            var handler64 = v < 32 ? runtime.Exception64[v] : v == 0x81 ? runtime.Return64 : 0;
            var handler32 = v < 32 ? runtime.Exception32[v] : v == 0x81 ? runtime.Return32 : 0;
            if (handler64 == 0)
            {
                continue;
            }

            var attributes = v == 0x81 ? 0xEEu : 0x8Eu; // present interrupt gate; DPL 3 for the return-to-CPL-0 gate
            var gate = L.Idt64 + ((uint)v * 16);
            Put64(gate, (handler64 & 0xFFFF) | ((ulong)Selector64 << 16) | ((ulong)attributes << 40) | ((handler64 >> 16 & 0xFFFF) << 48));
            Put64(gate + 8, handler64 >> 32);
            Put64(L.Idt32 + ((uint)v * 8), (handler32 & 0xFFFF) | ((ulong)Selector32 << 16) | ((ulong)attributes << 40) | ((handler32 >> 16 & 0xFFFF) << 48));
        }

        Put16(L.Idt64Descriptor, 0xFFF);
        Put64(L.Idt64Descriptor + 2, L.Idt64);
        Put16(L.Idt32Descriptor, 0x7FF);
        Put32(L.Idt32Descriptor + 2, L.Idt32);
    }

    /// <summary>An available TSS descriptor (type 9), limit 0x67; the upper half of a 64-bit one (base 63:32) is zero here.</summary>
    private static ulong TssDescriptor(uint baseAddress) =>
        0x67ul | ((ulong)(baseAddress & 0xFF_FFFF) << 16) | (0x89ul << 40) | ((ulong)(baseAddress >> 24) << 56);

    // ---- programs --------------------------------------------------------------------------------------------------

    private static void EmitProgram(Assembler a, GuestProgram program, int index, List<StepRef> steps, Runtime runtime)
    {
        var x64 = program.Mode == GuestMode.Long64;
        SetId(a, x64, SilentId);

        // Zero the data area around the not-present page.
        foreach (var (from, to) in new[] { (L.DataStart, L.NotPresentPage), (L.NotPresentPage + 0x1000, L.DataEnd) })
        {
            a.mov(edi, (uint)from);
            a.xor(eax, eax);
            a.mov(ecx, (uint)((to - from) / 4));
            a.rep.stosd();
        }

        a.mov(eax, (uint)index);
        a.call(x64 ? runtime.Program64 : runtime.Program32);

        var end = a.CreateLabel();
        for (var s = 0; s < program.Steps.Count; s++)
        {
            var step = program.Steps[s];
            if (step is EnterGuest)
            {
                SetId(a, x64, (uint)steps.Count);
                steps.Add(new StepRef(index, s));
                var guest = a.CreateLabel();
                Recorded(a, x64, () =>
                {
                    // A VM exit from now on ends the program (the landing jumps to its end).
                    a.lea(rax, __[end]);
                    a.mov(__qword_ptr[(ulong)L.VarExitTarget], rax);
                    a.lea(rax, __[guest]);
                    a.mov(ecx, 0x681E); // GUEST_RIP
                    a.vmwrite(rcx, rax);
                    a.mov(rax, rsp);
                    a.mov(ecx, 0x681C); // GUEST_RSP: the body's stack, with its return address on top
                    a.vmwrite(rcx, rax);
                    a.vmlaunch();
                    Flags(a, x64);
                    a.call(runtime.RecordVmx64);
                    a.ret();
                    a.Label(ref guest); // VMLAUNCH succeeded: the guest records it and returns into the program
                    a.mov(__qword_ptr[(ulong)L.VarInGuest], 1);
                    a.mov(__qword_ptr[(ulong)L.VarFlags], 2);
                    a.mov(__qword_ptr[(ulong)L.VarValue], 0);
                    a.call(runtime.Record64);
                });
                continue;
            }

            if (step.IsRecorded)
            {
                SetId(a, x64, (uint)steps.Count);
                steps.Add(new StepRef(index, s));
                Recorded(a, x64, () => EmitRecorded(a, x64, step, runtime));
            }
            else
            {
                EmitSetup(a, x64, step);
            }
        }

        // Leave VMX operation (silently; #UD outside it). A guest's VMXOFF exits to the landing, which comes back to "end"
        // once more, now in VMX root operation.
        a.nop(); // one label per instruction: the last step's "next" is on this one
        a.Label(ref end);
        SetId(a, x64, SilentId);
        Recorded(a, x64, () => a.vmxoff());
        if (program.HasGuest)
        {
            a.mov(__qword_ptr[(ulong)L.VarExitTarget], 0);
            a.mov(__qword_ptr[(ulong)L.VarInGuest], 0);
            Recorded(a, x64, () => a.vmxoff());
        }

        a.nop(); // the last label needs an instruction
    }

    private static void SetId(Assembler a, bool x64, uint id) => a.mov(__dword_ptr[(ulong)L.VarId], id);

    /// <summary>
    /// call body / jmp next / body: … ret / next: — an exception anywhere in the body resumes at "jmp next" through the
    /// return address the call left at the top of the stack.
    /// </summary>
    private static void Recorded(Assembler a, bool x64, Action body)
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

    private static void EmitSetup(Assembler a, bool x64, GuestStep step)
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
                EmitSetup(a, x64, new MemoryBytes(p.Address, p.Data));
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

    private static void EmitRecorded(Assembler a, bool x64, GuestStep step, Runtime runtime)
    {
        var rec = x64 ? runtime.Record64 : runtime.Record32;
        switch (step)
        {
            case MsrRead m:
                a.mov(ecx, m.Index);
                a.rdmsr();
                a.mov(__dword_ptr[(ulong)L.VarValue], eax);
                a.mov(__dword_ptr[(ulong)L.VarValue + 4], edx);
                Flags(a, x64);
                a.call(rec);
                return;
            case CpuidRead c:
                a.mov(eax, c.Leaf);
                a.xor(ecx, ecx);
                a.cpuid();
                a.mov(__dword_ptr[(ulong)L.VarValue], eax);
                a.mov(__dword_ptr[(ulong)L.VarValue + 4], ebx);
                a.mov(__dword_ptr[(ulong)L.VarValue2], ecx);
                a.mov(__dword_ptr[(ulong)L.VarValue2 + 4], edx);
                Flags(a, x64);
                a.call(rec);
                return;
            case VmxInstruction x:
                EmitVmx(a, x64, x, runtime);
                a.call(x64 ? runtime.RecordVmx64 : runtime.RecordVmx32);
                return;
            default:
                throw new ArgumentException($"Unknown step {step}.", nameof(step));
        }
    }

    private static void Flags(Assembler a, bool x64)
    {
        if (x64)
        {
            a.pushfq();
            a.pop(__qword_ptr[(ulong)L.VarFlags]);
        }
        else
        {
            a.pushfd();
            a.pop(__dword_ptr[(ulong)L.VarFlags]);
        }
    }

    private static void Load(Assembler a, bool x64, Gpr register, ulong value)
    {
        if (x64)
        {
            a.mov(R64[(int)register], value);
        }
        else
        {
            a.mov(R32[(int)register], (uint)value);
        }
    }

    private static void EmitVmx(Assembler a, bool x64, VmxInstruction x, Runtime runtime)
    {
        if (x.Cpl == 3)
        {
            // iret to CPL 3 on the same stack; the instruction after the call is the CPL-3 code.
            if (x64)
            {
                a.mov(rax, rsp);
                a.push(SelectorUserData);
                a.push(rax);
                a.pushfq();
                a.push(SelectorUser64);
                a.call(runtime.Iret64);
            }
            else
            {
                a.mov(eax, esp);
                a.push(SelectorUserData);
                a.push(eax);
                a.pushfd();
                a.push(SelectorUser32);
                a.call(runtime.Iret32);
            }
        }

        if (x.HasEncoding)
        {
            Load(a, x64, x.EncodingRegister.Register, x.EncodingRegister.Value);
        }

        AssemblerMemoryOperand memory = default;
        if (x.HasOperand)
        {
            if (x.Operand.IsMemory)
            {
                if (x.MemoryBase is { } b)
                {
                    Load(a, x64, b, x.Operand.Address);
                    memory = x64 ? __[R64[(int)b]] : __[R32[(int)b]];
                }
                else
                {
                    memory = __[x.Operand.Address];
                }
            }
            else if (x.Opcode == VmxOpcode.Vmwrite || x.Opcode == VmxOpcode.Vmread)
            {
                Load(a, x64, x.Operand.Register, x.Operand.Value);
            }
        }

        var mem64 = __qword_ptr[memory];
        var enc64 = x.HasEncoding && x64 ? R64[(int)x.EncodingRegister.Register] : rax;
        var enc32 = x.HasEncoding && !x64 ? R32[(int)x.EncodingRegister.Register] : eax;
        switch (x.Opcode)
        {
            case VmxOpcode.Vmxon:
                a.vmxon(mem64);
                break;
            case VmxOpcode.Vmxoff:
                a.vmxoff();
                break;
            case VmxOpcode.Vmclear:
                a.vmclear(mem64);
                break;
            case VmxOpcode.Vmptrld:
                a.vmptrld(mem64);
                break;
            case VmxOpcode.Vmptrst:
                a.vmptrst(mem64);
                break;
            case VmxOpcode.Vmlaunch:
                a.vmlaunch();
                break;
            case VmxOpcode.Vmresume:
                a.vmresume();
                break;
            case VmxOpcode.Vmread when x64:
                if (x.Operand.IsMemory)
                {
                    a.vmread(mem64, enc64);
                }
                else
                {
                    a.vmread(R64[(int)x.Operand.Register], enc64);
                }

                break;
            case VmxOpcode.Vmread:
                if (x.Operand.IsMemory)
                {
                    a.vmread(__dword_ptr[memory], enc32);
                }
                else
                {
                    a.vmread(R32[(int)x.Operand.Register], enc32);
                }

                break;
            case VmxOpcode.Vmwrite when x64:
                if (x.Operand.IsMemory)
                {
                    a.vmwrite(enc64, mem64);
                }
                else
                {
                    a.vmwrite(enc64, R64[(int)x.Operand.Register]);
                }

                break;
            case VmxOpcode.Vmwrite:
                if (x.Operand.IsMemory)
                {
                    a.vmwrite(enc32, __dword_ptr[memory]);
                }
                else
                {
                    a.vmwrite(enc32, R32[(int)x.Operand.Register]);
                }

                break;
        }

        // The value a VMREAD produced in a register (before anything else touches it).
        if (x.Opcode == VmxOpcode.Vmread && !x.Operand.IsMemory)
        {
            if (x64)
            {
                a.mov(__qword_ptr[(ulong)L.VarValue], R64[(int)x.Operand.Register]);
            }
            else
            {
                a.mov(__dword_ptr[(ulong)L.VarValue], R32[(int)x.Operand.Register]);
                a.mov(__dword_ptr[(ulong)L.VarValue + 4], 0u);
            }
        }

        Flags(a, x64);
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
            if (x64 || x.Opcode == VmxOpcode.Vmptrst)
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

    // ---- the runtimes ----------------------------------------------------------------------------------------------

    private sealed class Runtime
    {
        public byte[] Code32 = [];
        public byte[] Code64 = [];
        public ulong RecordVmx32, RecordVmx64, VmExit32, VmExit64;
        public ulong Entry32, CompatEntry, SwitchTo64, Record32, Program32, Shutdown32, Return32, Iret32;
        public ulong LongInit, LongResume, SwitchTo32, Record64, Program64, Shutdown64, Return64, Iret64;
        public ulong[] Exception32 = new ulong[32];
        public ulong[] Exception64 = new ulong[32];

        public (ulong, ulong, ulong, ulong, ulong, ulong, ulong, ulong) Key64 => (LongInit, LongResume, SwitchTo32, Record64, Program64, Shutdown64, Return64, Iret64);

        public (ulong, ulong, ulong, ulong, ulong, ulong, ulong, ulong) Key32 => (Entry32, CompatEntry, SwitchTo64, Record32, Program32, Shutdown32, Return32, Iret32);
    }

    /// <summary>Assembles both runtimes until the addresses they take from each other stop moving.</summary>
    private static Runtime BuildRuntimes()
    {
        var r = new Runtime
        {
            LongInit = L.Runtime64, LongResume = L.Runtime64, CompatEntry = L.Runtime32, Shutdown32 = L.Runtime32, Shutdown64 = L.Runtime64,
        };
        for (var pass = 0; pass < 8; pass++)
        {
            var before = (r.Key32, r.Key64);
            Build32(r);
            Build64(r);
            if (before == (r.Key32, r.Key64))
            {
                if (L.Runtime32 + (ulong)r.Code32.Length > L.Runtime64 || L.Runtime64 + (ulong)r.Code64.Length > L.ProgramsStart)
                {
                    throw new InvalidOperationException("The runtime code outgrew its space.");
                }

                return r;
            }
        }

        throw new InvalidOperationException("The runtime addresses did not settle.");
    }

    private static void Print(Assembler a, string text)
    {
        foreach (var c in text)
        {
            a.mov(al, (byte)c);
            a.@out(0xE9, al);
        }
    }

    private static void Build32(Runtime r)
    {
        var a = new Assembler(32);
        var entry = a.CreateLabel();
        var compat = a.CreateLabel();
        var toLong = a.CreateLabel();
        var record = a.CreateLabel();
        var recordVmx = a.CreateLabel();
        var vmexit = a.CreateLabel();
        var program = a.CreateLabel();
        var shutdown = a.CreateLabel();
        var ret81 = a.CreateLabel();
        var iret = a.CreateLabel();
        var hex = a.CreateLabel();
        var hexDigits = a.CreateLabel();
        var hex64 = a.CreateLabel();
        var common = a.CreateLabel();
        var stubs = new Label[32];

        // Entry from real mode: flat segments, page tables for both modes, CR0.NE, IA32_FEATURE_CONTROL, long mode.
        a.Label(ref entry);
        a.mov(ax, SelectorData);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(esp, L.StackTop);
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
        EnterLong(a, r.LongInit);

        // From 64-bit mode (retf into the 32-bit code segment): leave IA-32e mode for 32-bit paging.
        a.Label(ref compat);
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
        a.mov(ax, SelectorUserData);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ax, SelectorData);
        a.mov(ss, ax);
        a.mov(esp, L.StackTop);
        a.lidt(__[(ulong)L.Idt32Descriptor]);
        a.and(__byte_ptr[(ulong)L.Gdt + SelectorTss32 + 5], unchecked((byte)~2));
        a.mov(ax, SelectorTss32);
        a.ltr(ax);
        a.jmp(__dword_ptr[(ulong)L.VarCont]);

        // Called from 32-bit program code: continue at the return address in 64-bit mode.
        a.Label(ref toLong);
        a.pop(eax);
        a.mov(__dword_ptr[(ulong)L.VarCont], eax);
        a.mov(eax, cr0);
        a.and(eax, 0x7FFF_FFFF);
        a.mov(cr0, eax);
        a.mov(eax, GuestLayout.Cr4Long);
        a.mov(cr4, eax);
        EnterLong(a, r.LongResume);

        // R id rflags value aux: aux is the VM-instruction error after VMfailValid (ZF), else what the step stored.
        a.Label(ref recordVmx);
        a.test(__byte_ptr[(ulong)L.VarFlags], 0x40);
        a.jz(record);
        a.mov(ecx, VmcsEncoding.VmInstructionError);
        a.vmread(eax, ecx);
        a.mov(__dword_ptr[(ulong)L.VarValue2], eax);
        a.mov(__dword_ptr[(ulong)L.VarValue2 + 4], 0u);
        a.Label(ref record);
        Print(a, "R ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        Print(a, " ");
        a.mov(esi, L.VarFlags);
        a.call(hex64);
        Print(a, " ");
        a.mov(esi, L.VarValue);
        a.call(hex64);
        Print(a, " ");
        a.mov(esi, L.VarValue2);
        a.call(hex64);
        Print(a, "\n");
        a.ret();

        // VM exit (HOST_RIP): E id reason qualification information guest-rip instruction-length.
        a.Label(ref vmexit);
        a.mov(ax, SelectorUserData);
        a.mov(ds, ax);
        a.mov(es, ax);
        var quiet32 = a.CreateLabel();
        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(quiet32);
        Print(a, "\nE ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        foreach (var field in ExitFields)
        {
            Print(a, " ");
            a.mov(ecx, field);
            a.vmread(eax, ecx);
            a.call(hex);
        }

        Print(a, "\n");
        a.Label(ref quiet32);
        a.mov(esp, L.StackTop - 4);
        a.ret();

        a.Label(ref program);
        a.push(eax);
        Print(a, "P ");
        a.pop(eax);
        a.call(hex);
        Print(a, "\n");
        a.ret();

        a.Label(ref shutdown);
        Print(a, "D\n");
        Shutdown(a);

        a.Label(ref ret81); // int 0x81 from CPL 3: continue after it at CPL 0 on the CPL-3 stack
        a.mov(eax, __dword_ptr[esp]);
        a.mov(esp, __dword_ptr[esp + 12]);
        a.jmp(eax);

        a.Label(ref iret);
        a.iretd();

        // hex: EAX in hex without leading zeros; hexDigits: EBX from bit ECX+3 down; hex64: the qword at [ESI].
        a.Label(ref hex);
        a.mov(ebx, eax);
        a.mov(ecx, 28);
        var skip = a.CreateLabel();
        a.Label(ref skip);
        a.mov(eax, ebx);
        a.shr(eax, cl);
        a.test(al, 0xF);
        a.jnz(hexDigits);
        a.sub(ecx, 4);
        a.jnz(skip);
        a.Label(ref hexDigits);
        var decimalDigit = a.CreateLabel();
        a.mov(eax, ebx);
        a.shr(eax, cl);
        a.and(eax, 0xF);
        a.cmp(al, 10);
        a.jb(decimalDigit);
        a.add(al, 39);
        a.Label(ref decimalDigit);
        a.add(al, 0x30);
        a.@out(0xE9, al);
        a.sub(ecx, 4);
        a.jns(hexDigits);
        a.ret();
        a.Label(ref hex64);
        var low = a.CreateLabel();
        a.mov(eax, __dword_ptr[esi + 4]);
        a.test(eax, eax);
        a.jz(low);
        a.call(hex);
        a.mov(ebx, __dword_ptr[esi]);
        a.mov(ecx, 28);
        a.jmp(hexDigits);
        a.Label(ref low);
        a.mov(eax, __dword_ptr[esi]);
        a.jmp(hex);

        // Exceptions: X id vector error; a fault outside the program code is fatal (F vector error eip).
        for (var v = 0; v < 32; v++)
        {
            stubs[v] = a.CreateLabel();
            a.Label(ref stubs[v]);
            if (!HasErrorCode(v))
            {
                a.push(0);
            }

            a.push(v);
            a.jmp(common);
        }

        a.Label(ref common);
        var fatal = a.CreateLabel();
        var silent = a.CreateLabel();
        a.pop(__dword_ptr[(ulong)TmpVector]);
        a.pop(__dword_ptr[(ulong)TmpError]);
        a.mov(eax, __dword_ptr[esp]);
        a.mov(__dword_ptr[(ulong)TmpRip], eax);
        a.cmp(eax, L.ProgramsStart);
        a.jb(fatal);
        a.cmp(eax, L.ImageEnd);
        a.jae(fatal);
        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(silent);
        Print(a, "\nX ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        Print(a, " ");
        a.mov(eax, __dword_ptr[(ulong)TmpVector]);
        a.call(hex);
        Print(a, " ");
        a.mov(eax, __dword_ptr[(ulong)TmpError]);
        a.call(hex);
        Print(a, "\n");
        a.Label(ref silent);
        a.mov(esp, L.StackTop - 4);
        a.ret();
        a.Label(ref fatal);
        Print(a, "\nF ");
        a.mov(eax, __dword_ptr[(ulong)TmpVector]);
        a.call(hex);
        Print(a, " ");
        a.mov(eax, __dword_ptr[(ulong)TmpError]);
        a.call(hex);
        Print(a, " ");
        a.mov(eax, __dword_ptr[(ulong)TmpRip]);
        a.call(hex);
        Print(a, "\n");
        a.jmp(shutdown);

        using var stream = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(stream), L.Runtime32, BlockEncoderOptions.ReturnNewInstructionOffsets);
        r.Code32 = stream.ToArray();
        r.Entry32 = result.GetLabelRIP(entry);
        r.CompatEntry = result.GetLabelRIP(compat);
        r.SwitchTo64 = result.GetLabelRIP(toLong);
        r.Record32 = result.GetLabelRIP(record);
        r.RecordVmx32 = result.GetLabelRIP(recordVmx);
        r.VmExit32 = result.GetLabelRIP(vmexit);
        r.Program32 = result.GetLabelRIP(program);
        r.Shutdown32 = result.GetLabelRIP(shutdown);
        r.Return32 = result.GetLabelRIP(ret81);
        r.Iret32 = result.GetLabelRIP(iret);
        for (var v = 0; v < 32; v++)
        {
            r.Exception32[v] = result.GetLabelRIP(stubs[v]);
        }
    }

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

    private static void Shutdown(Assembler a)
    {
        a.mov(dx, 0x8900);
        foreach (var c in "Shutdown")
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }

        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.cli();
        a.hlt();
        a.jmp(halt);
    }

    private static void Build64(Runtime r)
    {
        var a = new Assembler(64);
        var init = a.CreateLabel();
        var resume = a.CreateLabel();
        var toCompat = a.CreateLabel();
        var record = a.CreateLabel();
        var recordVmx = a.CreateLabel();
        var vmexit = a.CreateLabel();
        var program = a.CreateLabel();
        var shutdown = a.CreateLabel();
        var ret81 = a.CreateLabel();
        var iret = a.CreateLabel();
        var hex = a.CreateLabel();
        var common = a.CreateLabel();
        var stubs = new Label[32];

        a.Label(ref init);
        a.mov(ax, SelectorData);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(rsp, L.StackTop);
        a.lidt(__[(ulong)L.Idt64Descriptor]);
        a.mov(ax, SelectorTss64);
        a.ltr(ax);
        Print(a, Header + "\n");
        a.jmp((ulong)L.ProgramsStart);

        a.Label(ref resume); // back from 32-bit mode
        a.mov(ax, SelectorData);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(rsp, L.StackTop);
        a.lidt(__[(ulong)L.Idt64Descriptor]);
        a.and(__byte_ptr[(ulong)L.Gdt + SelectorTss64 + 5], unchecked((byte)~2));
        a.mov(ax, SelectorTss64);
        a.ltr(ax);
        a.mov(eax, __dword_ptr[(ulong)L.VarCont]);
        a.jmp(rax);

        a.Label(ref toCompat); // called from 64-bit program code: continue at the return address in 32-bit mode
        a.pop(rax);
        a.mov(__dword_ptr[(ulong)L.VarCont], eax);
        a.push(Selector32);
        a.push((int)r.CompatEntry);
        a.AddInstruction(Instruction.Create(Code.Retfq));

        a.Label(ref recordVmx);
        var readable = a.CreateLabel();
        a.test(__byte_ptr[(ulong)L.VarFlags], 0x40);
        a.jz(record);
        a.cmp(__byte_ptr[(ulong)L.VarInGuest], 0);
        a.je(readable);
        a.mov(__qword_ptr[(ulong)L.VarValue2], unchecked((int)InstructionRecord.ErrorNotReadable)); // in the guest: not readable
        a.mov(__dword_ptr[(ulong)L.VarValue2 + 4], 0u);
        a.jmp(record);
        a.Label(ref readable);
        a.mov(ecx, VmcsEncoding.VmInstructionError);
        a.vmread(rax, rcx);
        a.mov(__qword_ptr[(ulong)L.VarValue2], rax);
        a.Label(ref record);
        Print(a, "R ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)L.VarFlags]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)L.VarValue]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)L.VarValue2]);
        a.call(hex);
        Print(a, "\n");
        a.ret();

        a.Label(ref vmexit);
        var quiet = a.CreateLabel();
        var plain = a.CreateLabel();
        a.mov(__qword_ptr[(ulong)L.VarInGuest], 0);
        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(quiet);
        Print(a, "\nE ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        foreach (var field in ExitFields)
        {
            Print(a, " ");
            a.mov(ecx, field);
            a.vmread(rax, rcx);
            a.call(hex);
        }

        Print(a, "\n");
        a.Label(ref quiet);
        a.mov(rax, __qword_ptr[(ulong)L.VarExitTarget]); // a guest's program ends at its first exit
        a.test(rax, rax);
        a.jz(plain);
        a.mov(rsp, L.StackTop);
        a.jmp(rax);
        a.Label(ref plain);
        a.mov(rsp, L.StackTop - 8);
        a.ret();

        a.Label(ref program);
        a.push(rax);
        Print(a, "P ");
        a.pop(rax);
        a.call(hex);
        Print(a, "\n");
        a.ret();

        a.Label(ref shutdown);
        Print(a, "D\n");
        Shutdown(a);

        a.Label(ref ret81);
        a.mov(rax, __qword_ptr[rsp]);
        a.mov(rsp, __qword_ptr[rsp + 24]);
        a.mov(cx, SelectorData);
        a.mov(ss, cx);
        a.jmp(rax);

        a.Label(ref iret);
        a.AddInstruction(Instruction.Create(Code.Iretq));

        a.Label(ref hex); // RAX in hex without leading zeros
        var skip = a.CreateLabel();
        var digit = a.CreateLabel();
        var decimalDigit = a.CreateLabel();
        a.mov(rbx, rax);
        a.mov(ecx, 60);
        a.Label(ref skip);
        a.mov(rax, rbx);
        a.shr(rax, cl);
        a.test(al, 0xF);
        a.jnz(digit);
        a.sub(ecx, 4);
        a.jnz(skip);
        a.Label(ref digit);
        a.mov(rax, rbx);
        a.shr(rax, cl);
        a.and(eax, 0xF);
        a.cmp(al, 10);
        a.jb(decimalDigit);
        a.add(al, 39);
        a.Label(ref decimalDigit);
        a.add(al, 0x30);
        a.@out(0xE9, al);
        a.sub(ecx, 4);
        a.jns(digit);
        a.ret();

        for (var v = 0; v < 32; v++)
        {
            stubs[v] = a.CreateLabel();
            a.Label(ref stubs[v]);
            if (!HasErrorCode(v))
            {
                a.push(0);
            }

            a.push(v);
            a.jmp(common);
        }

        a.Label(ref common);
        var fatal = a.CreateLabel();
        var silent = a.CreateLabel();
        a.pop(__qword_ptr[(ulong)TmpVector]);
        a.pop(__qword_ptr[(ulong)TmpError]);
        a.mov(rax, __qword_ptr[rsp]);
        a.mov(__qword_ptr[(ulong)TmpRip], rax);
        a.cmp(rax, (int)L.ProgramsStart);
        a.jb(fatal);
        a.cmp(rax, (int)L.ImageEnd);
        a.jae(fatal);
        a.cmp(__dword_ptr[(ulong)L.VarId], unchecked((int)SilentId));
        a.je(silent);
        Print(a, "\nX ");
        a.mov(eax, __dword_ptr[(ulong)L.VarId]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)TmpVector]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)TmpError]);
        a.call(hex);
        Print(a, "\n");
        a.Label(ref silent);
        a.mov(ax, SelectorData); // from CPL 3 SS is null, whose 16-bit stack would wrap once back in 32-bit code
        a.mov(ss, ax);
        a.mov(rsp, L.StackTop - 8);
        a.ret();
        a.Label(ref fatal);
        Print(a, "\nF ");
        a.mov(rax, __qword_ptr[(ulong)TmpVector]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)TmpError]);
        a.call(hex);
        Print(a, " ");
        a.mov(rax, __qword_ptr[(ulong)TmpRip]);
        a.call(hex);
        Print(a, "\n");
        a.jmp(shutdown);

        using var stream = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(stream), L.Runtime64, BlockEncoderOptions.ReturnNewInstructionOffsets);
        r.Code64 = stream.ToArray();
        r.LongInit = result.GetLabelRIP(init);
        r.LongResume = result.GetLabelRIP(resume);
        r.SwitchTo32 = result.GetLabelRIP(toCompat);
        r.Record64 = result.GetLabelRIP(record);
        r.RecordVmx64 = result.GetLabelRIP(recordVmx);
        r.VmExit64 = result.GetLabelRIP(vmexit);
        r.Program64 = result.GetLabelRIP(program);
        r.Shutdown64 = result.GetLabelRIP(shutdown);
        r.Return64 = result.GetLabelRIP(ret81);
        r.Iret64 = result.GetLabelRIP(iret);
        for (var v = 0; v < 32; v++)
        {
            r.Exception64[v] = result.GetLabelRIP(stubs[v]);
        }
    }
}
