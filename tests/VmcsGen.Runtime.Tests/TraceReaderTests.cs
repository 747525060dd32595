using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using CsCheck;
using NUnit.Framework;
using VmcsGen.Nested;
using VmcsGen.Tracing;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The trace format's two halves agree: what <see cref="NestedTraceWriter"/> writes, <see cref="TraceReader"/> reads
/// back as the same events (docs/TRACE.md), and a damaged line is one error naming file, line and column.
/// </summary>
public sealed class TraceReaderTests
{
    private static readonly IReadOnlyList<VmcsFieldDescriptor> Fields = VmcsGen.Layouts.Kvm.Layout.Handle.Fields;

    private static readonly IReadOnlyDictionary<string, uint> Names =
        Fields.GroupBy(f => f.Name).ToDictionary(g => g.Key, g => g.First().Encoding, StringComparer.Ordinal);

    /// <summary>An encoding kvm.vmcs does not name (SDM Vol. 3D Appendix B.2.1: the tertiary processor-based controls).</summary>
    private const uint Unnamed = 0x2034;

    /// <summary>GUEST_RSP, GUEST_RIP and VM_EXIT_INSTRUCTION_LEN (SDM Vol. 3D Appendix B.4.3 and B.3.2).</summary>
    private const uint GuestRsp = 0x681C, GuestRip = 0x681E, ExitInstructionLength = 0x440C;

    private static readonly VmxResult Failure = VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);

    [Test]
    public void EveryLineKindTheWriterWritesReadsBackAsWritten()
    {
        Assume.That(Names.Values, Does.Not.Contain(Unnamed), "the unnamed encoding must be one the layout lacks");
        var text = new StringWriter();
        var writer = new NestedTraceWriter(text, Fields);
        writer.Instruction("vmxon 0x1000", VmxResult.Succeed);
        writer.Instruction("vmptrld 0x20000", VmxResult.Succeed);
        writer.Write(GuestRip, 0xFFFF_FFFF_8100_0000, VmxResult.Succeed);
        writer.Write(Unnamed, 7, Failure);
        writer.Launch(VmxResult.Succeed);
        writer.Exit([new(VmcsEncoding.ExitReason, 10), new(ExitInstructionLength, 2)]);
        writer.Read(VmcsEncoding.ExitReason, VmxResult.Succeed, 10);
        writer.Read(Unnamed, Failure, 0);
        writer.Event("l1-userspace");
        writer.WriteThrough(GuestRip, 3);
        writer.Resume(VmxResult.Succeed);
        writer.Exit([]);
        writer.Resume(Failure);
        writer.Import();
        writer.Instruction("vmptrst", Failure);
        writer.Instruction("vmclear 0x20000", VmxResult.Succeed);
        writer.Instruction("vmxoff", VmxResult.Succeed);

        var events = TraceReader.ReadAll(text.ToString(), "all.trace");

        Assert.That(events.Select(e => (e.Kind, e.Name, e.Value, e.Failed)), Is.EqualTo(new (TraceEventKind, string?, ulong?, bool)[]
        {
            (TraceEventKind.VmxOn, null, 0x1000, false),
            (TraceEventKind.VmPtrLd, null, 0x20000, false),
            (TraceEventKind.Write, "GUEST_RIP", 0xFFFF_FFFF_8100_0000, false),
            (TraceEventKind.Write, "0x2034", 7, true),
            (TraceEventKind.Launch, null, null, false),
            (TraceEventKind.Exit, null, 10, false),
            (TraceEventKind.Hardware, "VM_EXIT_REASON", 10, false),
            (TraceEventKind.Hardware, "VM_EXIT_INSTRUCTION_LEN", 2, false),
            (TraceEventKind.Read, "VM_EXIT_REASON", 10, false),
            (TraceEventKind.Read, "0x2034", null, true),
            (TraceEventKind.Event, "l1-userspace", null, false),
            (TraceEventKind.WriteThrough, "GUEST_RIP", 3, false),
            (TraceEventKind.Resume, null, null, false),
            (TraceEventKind.Exit, null, null, false), // no VM_EXIT_REASON written: "exit ?"
            (TraceEventKind.Resume, null, null, true),
            (TraceEventKind.Import, null, null, false),
            (TraceEventKind.VmPtrSt, null, null, true),
            (TraceEventKind.VmClear, null, 0x20000, false),
            (TraceEventKind.VmxOff, null, null, false),
        }));
        Assert.That(events.Select(e => e.Line), Is.EqualTo(Enumerable.Range(2, events.Count)), "one event per line after the header");
        Assert.That(events[3].TryEncoding(Names, out var unnamed) && unnamed == Unnamed, "an unnamed field reads back as its encoding");
        Assert.That(events[2].TryEncoding(Names, out var rip) && rip == GuestRip);
    }

    /// <summary>Property: any sequence of L1 accesses and exits, written and read back, gives the same accesses in order.</summary>
    [Test]
    public void AnyWrittenSequenceReadsBackAsTheSameEvents()
    {
        uint[] encodings = [GuestRip, VmcsEncoding.ExitReason, VmcsEncoding.ExitQualification, Unnamed, GuestRsp];
        var op = Gen.Select(Gen.Int[0, 5], Gen.Int[0, encodings.Length - 1], Gen.ULong, Gen.Bool);
        op.Array[0, 40].Sample(ops =>
        {
            var text = new StringWriter();
            var writer = new NestedTraceWriter(text, Fields);
            var expected = new List<(TraceEventKind Kind, uint? Encoding, ulong? Value, bool Failed)>();
            foreach (var (kind, index, value, ok) in ops)
            {
                var encoding = encodings[index];
                var result = ok ? VmxResult.Succeed : Failure;
                switch (kind)
                {
                    case 0:
                        writer.Read(encoding, result, value);
                        expected.Add((TraceEventKind.Read, encoding, ok ? value : null, !ok));
                        break;
                    case 1:
                        writer.Write(encoding, value, result);
                        expected.Add((TraceEventKind.Write, encoding, value, !ok));
                        break;
                    case 2:
                        writer.Exit([new(VmcsEncoding.ExitReason, value), new(encoding, value)]);
                        expected.Add((TraceEventKind.Exit, null, (ushort)value, false));
                        expected.Add((TraceEventKind.Hardware, VmcsEncoding.ExitReason, value, false));
                        expected.Add((TraceEventKind.Hardware, encoding, value, false));
                        break;
                    case 3:
                        writer.Resume(result);
                        expected.Add((TraceEventKind.Resume, null, null, !ok));
                        break;
                    case 4:
                        writer.Instruction("vmptrld 0x" + value.ToString("X", System.Globalization.CultureInfo.InvariantCulture), result);
                        expected.Add((TraceEventKind.VmPtrLd, null, value, !ok));
                        break;
                    default:
                        writer.WriteThrough(encoding, value);
                        expected.Add((TraceEventKind.WriteThrough, encoding, value, false));
                        break;
                }
            }

            var read = TraceReader.ReadAll(text.ToString(), "p.trace")
                .Select(e => (e.Kind, e.TryEncoding(Names, out var enc) ? enc : (uint?)null, e.Value, e.Failed))
                .ToList();
            Assert.That(read, Is.EqualTo(expected));
        }, iter: 500);
    }

    [Test]
    public void ATraceRecordedAroundAnEngineReadsBackWithOneEventPerLine()
    {
        var layout = VmcsGen.Layouts.Kvm.Layout.Handle;
        var text = new StringWriter();
        var l1 = new NestedTraceRecorder(layout.CreateEngine(), text, layout.Fields);
        l1.Memory.CreateRegion(0x20000, layout.Revision);
        l1.L1VmPtrLd(0x20000);
        l1.L1VmWrite(GuestRip, 0x400000);
        l1.L1VmLaunch();
        l1.L2Exit([new(VmcsEncoding.ExitReason, 10), new(ExitInstructionLength, 2)]);
        l1.L1VmRead(VmcsEncoding.ExitReason, out _);
        l1.L1VmResume();

        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = TraceReader.ReadAll(text.ToString(), "engine.trace");
        Assert.That(events, Has.Count.EqualTo(lines.Length - 1));
        Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[]
        {
            TraceEventKind.VmPtrLd, TraceEventKind.Write, TraceEventKind.Launch, TraceEventKind.Exit,
            TraceEventKind.Hardware, TraceEventKind.Hardware, TraceEventKind.Read, TraceEventKind.Resume,
        }));
        Assert.That(events.Single(e => e.Kind == TraceEventKind.Read).Value, Is.EqualTo(10), "L1 read the exit reason the CPU wrote");
    }

    [TestCase("not a trace\n", 1, 1, "not a VmcsGen trace: expected 'vmcsgen-trace 1' as the first line")]
    [TestCase("# only a comment\n\n", 1, 1, "empty trace: expected 'vmcsgen-trace 1' as the first line")]
    [TestCase("vmcsgen-trace 2\n", 1, 15, "trace format version 2 is not supported (this reader reads version 1)")]
    [TestCase("vmcsgen-trace 1\nwri", 2, 1,
        "expected exit, hw, read, write, event, launch, resume, vmptrld, vmclear, vmptrst, vmxon, vmxoff, write-through or import, got 'wri'")]
    [TestCase("vmcsgen-trace 1\nwrite GUEST_RIP   # the value was cut\n", 2, 16, "'write' needs 2 operands")]
    [TestCase("vmcsgen-trace 1\nexit\n", 2, 5, "'exit' needs 1 operand")]
    [TestCase("vmcsgen-trace 1\nwrite GUEST_RIP 0x1 0x2\n", 2, 21, "expected 'fail' or the end of the line, got '0x2'")]
    [TestCase("vmcsgen-trace 1\nread GUEST_RIP 0x1 fail\n", 2, 20, "unexpected 'fail'")]
    [TestCase("vmcsgen-trace 1\n\thw GUEST_RIP 0xZZ\n", 2, 15, "expected a value (a number; 0x for hex)")]
    [TestCase("vmcsgen-trace 1\nexit 65536\n", 2, 6, "expected a basic exit reason (0 to 65535, or ?), got '65536'")]
    [TestCase("vmcsgen-trace 1\nvmptrld here\n", 2, 9, "expected an address (a number; 0x for hex), got 'here'")]
    [TestCase("vmcsgen-trace 1\nlaunch now\n", 2, 8, "expected 'fail' or the end of the line, got 'now'")]
    [TestCase("vmcsgen-trace 1\nimport 1\n", 2, 8, "unexpected '1'")]
    public void ADamagedTraceIsOneErrorAtItsLineAndColumn(string text, int line, int column, string reason)
    {
        var e = Assert.Throws<LineFormatException>(() => TraceReader.ReadAll(text, "bad.trace"))!;
        Assert.That((e.FilePath, e.Line, e.Column, e.Reason), Is.EqualTo(("bad.trace", line, column, reason)));
        Assert.That(e.Message, Is.EqualTo($"bad.trace({line},{column}): error: {reason}"));
    }

    [Test]
    public void EventsAreReadLazilySoTheFirstMistakeOfTheFileIsTheOneReported()
    {
        // A caller checking order stops at line 2 before the reader meets the damaged line 3.
        var events = new TraceReader("vmcsgen-trace 1\nlaunch\nfrobnicate\n", "lazy.trace").Events();
        Assert.That(events.First().Kind, Is.EqualTo(TraceEventKind.Launch));
        Assert.That(() => events.ToList(), Throws.TypeOf<LineFormatException>().With.Message.StartWith("lazy.trace(3,1): error: "));
    }

    [Test]
    public void AGzippedTraceOpensAndAnUnreadableOneIsOneLine()
    {
        var directory = Directory.CreateTempSubdirectory("vmcsgen-trace-").FullName;
        try
        {
            var path = Path.Combine(directory, "t.trace.gz");
            using (var file = File.Create(path))
            using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
            using (var text = new StreamWriter(gzip))
            {
                var writer = new NestedTraceWriter(text, Fields);
                writer.Launch(VmxResult.Succeed);
            }

            Assert.That(TraceReader.Open(path, reason => reason).Events().Single().Kind, Is.EqualTo(TraceEventKind.Launch));
            var missing = Path.Combine(directory, "missing.trace");
            Assert.That(() => TraceReader.Open(missing, reason => $"--trace {missing}: cannot read it ({reason})"),
                Throws.ArgumentException.With.Message.StartWith($"--trace {missing}: cannot read it ("));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
