using System;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>
    /// The descriptor tables, written as data into the payload: the GDT (ring-0 and ring-3 code for both modes, data, the two
    /// TSSs), the TSSs (the stack exceptions from CPL 3 switch to) and each mode's IDT (the 32 exception handlers and the
    /// DPL-3 gate 0x81 that returns to CPL 0), with the descriptors LGDT and LIDT load.
    /// </summary>
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
            if (Handler(runtime.Long, v) == 0)
            {
                continue;
            }

            var attributes = v == 0x81 ? 0xEEu : 0x8Eu; // present interrupt gate; DPL 3 for the return-to-CPL-0 gate
            var handler64 = Handler(runtime.Long, v);
            var gate = L.Idt64 + ((uint)v * 16);
            Put64(gate, Gate(handler64, Selector64, attributes));
            Put64(gate + 8, handler64 >> 32);
            Put64(L.Idt32 + ((uint)v * 8), Gate(Handler(runtime.Protected, v), Selector32, attributes));
        }

        Put16(L.Idt64Descriptor, 0xFFF);
        Put64(L.Idt64Descriptor + 2, L.Idt64);
        Put16(L.Idt32Descriptor, 0x7FF);
        Put32(L.Idt32Descriptor + 2, L.Idt32);
    }

    /// <summary>The handler of IDT vector <paramref name="vector"/> in a mode's runtime, 0 for none.</summary>
    private static ulong Handler(ModeRuntime runtime, int vector) => vector < 32 ? runtime.Exceptions[vector] : vector == 0x81 ? runtime.Return : 0;

    /// <summary>An interrupt gate's first eight bytes (offset 31:0, selector, attributes); a 64-bit gate's next eight hold offset 63:32.</summary>
    private static ulong Gate(ulong handler, byte selector, uint attributes) =>
        (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)attributes << 40) | ((handler >> 16 & 0xFFFF) << 48);

    /// <summary>An available TSS descriptor (type 9), limit 0x67; the upper half of a 64-bit one (base 63:32) is zero here.</summary>
    private static ulong TssDescriptor(uint baseAddress) =>
        0x67ul | ((ulong)(baseAddress & 0xFF_FFFF) << 16) | (0x89ul << 40) | ((ulong)(baseAddress >> 24) << 56);
}
