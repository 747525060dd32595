using System;
using Iced.Intel;
using L = VmcsGen.Bochs.GuestLayout;

namespace VmcsGen.Bochs;

internal static partial class ImageBuilder
{
    /// <summary>Both modes' runtimes.</summary>
    private sealed class Runtime
    {
        public ModeRuntime Protected { get; } = new(GuestMode.Protected32, L.Runtime32);

        public ModeRuntime Long { get; } = new(GuestMode.Long64, L.Runtime64);

        public ModeRuntime For(GuestMode mode) => mode == GuestMode.Long64 ? Long : Protected;
    }

    /// <summary>One mode's runtime: its code (at <see cref="Base"/>) and the addresses of its routines.</summary>
    private sealed class ModeRuntime(GuestMode mode, uint baseAddress)
    {
        public GuestMode Mode => mode;

        public uint Base => baseAddress;

        public byte[] Code = [];

        /// <summary>
        /// Entry: from real mode (32-bit) or the first entry into 64-bit mode. Resume: back from the other mode. Switch: called
        /// from program code, continues at its return address in the other mode.
        /// </summary>
        public ulong Entry = baseAddress, Resume = baseAddress, Switch, Shutdown = baseAddress;

        /// <summary>The routines program code calls (P and R records), the VM-exit landing (HOST_RIP) and the IDT's handlers.</summary>
        public ulong Program, Record, RecordVmx, VmExit, Return, Iret;

        public ulong[] Exceptions = new ulong[32];

        /// <summary>The addresses the other mode's code takes from this one (all of them, to be safe).</summary>
        public (ulong, ulong, ulong, ulong, ulong, ulong, ulong, ulong) Key => (Entry, Resume, Switch, Record, Program, Shutdown, Return, Iret);
    }

    /// <summary>The labels of one mode's runtime routines, filled in by the routines' emitters.</summary>
    private sealed class RoutineLabels
    {
        public RoutineLabels(Assembler a)
        {
            Entry = a.CreateLabel();
            Resume = a.CreateLabel();
            Switch = a.CreateLabel();
            Record = a.CreateLabel();
            RecordVmx = a.CreateLabel();
            VmExit = a.CreateLabel();
            Program = a.CreateLabel();
            Shutdown = a.CreateLabel();
            Return = a.CreateLabel();
            Iret = a.CreateLabel();
            Hex = a.CreateLabel();
            HexDigits = a.CreateLabel();
            Hex64 = a.CreateLabel();
            Common = a.CreateLabel();
        }

        public Label Entry, Resume, Switch, Record, RecordVmx, VmExit, Program, Shutdown, Return, Iret, Common;

        /// <summary>
        /// Hex: the accumulator in hex without leading zeros. 32-bit code also has HexDigits (EBX from bit ECX+3 down) and
        /// Hex64 (the qword at [ESI]).
        /// </summary>
        public Label Hex, HexDigits, Hex64;

        public Label[] Stubs = new Label[32];
    }

    /// <summary>Assembles both runtimes until the addresses they take from each other stop moving.</summary>
    private static Runtime BuildRuntimes()
    {
        var r = new Runtime();
        for (var pass = 0; pass < 8; pass++)
        {
            var before = (r.Protected.Key, r.Long.Key);
            BuildRuntime(r.Protected, r);
            BuildRuntime(r.Long, r);
            if (before == (r.Protected.Key, r.Long.Key))
            {
                if (L.Runtime32 + (ulong)r.Protected.Code.Length > L.Runtime64 || L.Runtime64 + (ulong)r.Long.Code.Length > L.ProgramsStart)
                {
                    throw new InvalidOperationException("The runtime code outgrew its space.");
                }

                return r;
            }
        }

        throw new InvalidOperationException("The runtime addresses did not settle.");
    }

    /// <summary>One mode's runtime, the same routines in the same order for both modes (each file says what its routines do).</summary>
    private static void BuildRuntime(ModeRuntime target, Runtime all)
    {
        var m = new ModeAssembler(target.Mode);
        var labels = new RoutineLabels(m.A);
        if (m.Long)
        {
            EmitLongEntries(m, labels, all.Protected);
        }
        else
        {
            EmitProtectedEntries(m, labels, all.Long);
        }

        EmitRecord(m, labels);
        EmitVmExit(m, labels);
        EmitProgramStart(m, labels);
        m.A.Label(ref labels.Shutdown);
        m.Print("D\n");
        Shutdown(m.A);
        EmitReturnGates(m, labels);
        EmitHex(m, labels);
        EmitExceptionHandlers(m, labels);

        var result = m.Assemble(target.Base, out target.Code);
        target.Entry = result.GetLabelRIP(labels.Entry);
        target.Resume = result.GetLabelRIP(labels.Resume);
        target.Switch = result.GetLabelRIP(labels.Switch);
        target.Record = result.GetLabelRIP(labels.Record);
        target.RecordVmx = result.GetLabelRIP(labels.RecordVmx);
        target.VmExit = result.GetLabelRIP(labels.VmExit);
        target.Program = result.GetLabelRIP(labels.Program);
        target.Shutdown = result.GetLabelRIP(labels.Shutdown);
        target.Return = result.GetLabelRIP(labels.Return);
        target.Iret = result.GetLabelRIP(labels.Iret);
        for (var v = 0; v < 32; v++)
        {
            target.Exceptions[v] = result.GetLabelRIP(labels.Stubs[v]);
        }
    }
}
