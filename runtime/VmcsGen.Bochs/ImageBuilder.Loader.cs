using System;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// The real-mode boot sector: reads the payload's sectors to <see cref="GuestLayout.ImageBase"/> with BIOS int 13h
    /// (one sector a call, LBA to CHS for a 1.44 MB floppy), opens A20, loads the GDT, sets CR0.PE and jumps to the 32-bit
    /// runtime's entry. A failed read prints "L" and shuts Bochs down.
    /// </summary>
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
        a.AddInstruction(Instruction.CreateBranch(Code.Jmp_ptr1632, Selector32, (uint)Runtimes.Value.Protected.Entry));
        a.Label(ref fail); // the disk read failed: say so and shut down
        Print(a, "L\n");
        RequestShutdown(a);
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
}
