using System;
using System.Collections.Generic;
using System.IO;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

/// <summary>
/// Builds the boot floppy: a real-mode boot sector that loads the rest with BIOS int 13h (<c>ImageBuilder.Loader.cs</c>),
/// descriptor tables written as data (<c>ImageBuilder.Tables.cs</c>), the runtime for 32-bit protected mode and for 64-bit
/// mode (mode switches, IDT handlers that record an exception and resume, the result records: <c>ImageBuilder.Runtime*.cs</c>,
/// one description of each routine for both modes) and the programs' code (<c>ImageBuilder.Programs.cs</c>,
/// <c>ImageBuilder.Vmx.cs</c>), all assembled with Iced. This file lays the image out.
/// </summary>
internal static partial class ImageBuilder
{
    public const int FloppyBytes = 1_474_560;
    public const int SectorsPerTrack = 18, Heads = 2;

    /// <summary>The first line of every result stream: the record format's name and version.</summary>
    public const string Header = "VMCSGEN-BOCHS 1";

    private const byte Selector32 = 0x08, SelectorData = 0x10, Selector64 = 0x18, SelectorUser32 = 0x23, SelectorUserData = 0x2B, SelectorUser64 = 0x33,
        SelectorTss64 = 0x38, SelectorTss32 = 0x48;

    private const uint SilentId = 0xFFFF_FFFF;

    /// <summary>The VM-exit landing (HOST_RIP) of each mode's runtime.</summary>
    public static ulong VmExitHost(GuestMode mode) => Runtimes.Value.For(mode).VmExit;

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
            var stepCount = steps.Count;
            if (program.Mode != mode)
            {
                // The call's return address is the next segment's first byte: the switch routine continues there.
                var b = new Assembler(Bitness(mode));
                b.call(runtime.For(mode).Switch);
                var sw = Assemble(b, at);
                if (at + (ulong)sw.Length + reserve > L.ImageEnd)
                {
                    break;
                }

                segments.Add(sw);
                at += (ulong)sw.Length;
                mode = program.Mode;
            }

            var code = Assemble(EmitProgram(program, p, steps, runtime), at);
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

        var end = new Assembler(Bitness(mode));
        end.jmp(runtime.For(mode).Shutdown);
        segments.Add(Assemble(end, at));

        var payload = new byte[L.ProgramsStart - L.ImageBase];
        WriteTables(payload, runtime);
        foreach (var part in new[] { runtime.Protected, runtime.Long })
        {
            part.Code.CopyTo(payload, (int)(part.Base - L.ImageBase));
        }

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

    private static int Bitness(GuestMode mode) => mode == GuestMode.Long64 ? 64 : 32;

    private static byte[] Assemble(Assembler a, ulong rip)
    {
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), rip);
        return stream.ToArray();
    }

    /// <summary>Writes the text to port 0xE9, one <c>out</c> a character.</summary>
    private static void Print(Assembler a, string text)
    {
        foreach (var c in text)
        {
            a.mov(al, (byte)c);
            a.@out(0xE9, al);
        }
    }

    /// <summary>Asks Bochs to stop: the string "Shutdown" to its shutdown port 0x8900.</summary>
    private static void RequestShutdown(Assembler a)
    {
        a.mov(dx, 0x8900);
        foreach (var c in "Shutdown")
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
    }

    /// <summary>Asks Bochs to stop, then halts for good.</summary>
    private static void Shutdown(Assembler a)
    {
        RequestShutdown(a);
        var halt = a.CreateLabel();
        a.Label(ref halt);
        a.cli();
        a.hlt();
        a.jmp(halt);
    }
}
