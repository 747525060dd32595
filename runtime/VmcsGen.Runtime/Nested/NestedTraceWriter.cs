using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using VmcsGen.Tracing;
using static VmcsGen.Tracing.TraceFormat;

namespace VmcsGen.Nested;

/// <summary>
/// Writes the versioned text trace of docs/TRACE.md (<c>vmcsgen-trace 1</c>), one event per line as it happens (a trace
/// streams, and gzips well: it is repetitive text): per L2 exit the exit reason and what the CPU wrote, then L1's
/// VMREADs and VMWRITEs with their values until VMRESUME. A field the layout does not name is written by encoding.
/// <see cref="NestedTraceRecorder"/> (any <see cref="INestedEngine"/>) and <see cref="RecordingVmcs{TVmcs}"/> (any
/// <see cref="IVmcs"/>) write through one; <see cref="TraceReader"/> reads the result (NestedSim's <c>advise --trace</c>, <c>convert</c>).
/// </summary>
public sealed class NestedTraceWriter
{
    /// <summary>The first line of every trace: the format and its version.</summary>
    public const string Header = TraceFormat.Header;

    private readonly TextWriter _out;
    private readonly Dictionary<uint, string> _names = new();

    /// <param name="output">Where the trace goes; the header line is written now.</param>
    /// <param name="fields">The layout's fields (e.g. <see cref="LayoutHandle.Fields"/>), to write names instead of encodings.</param>
    public NestedTraceWriter(TextWriter output, IEnumerable<VmcsFieldDescriptor> fields)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(fields);
        _out = output;
        foreach (var field in fields)
        {
            _names.TryAdd(field.Encoding, field.Name);
        }

        _out.WriteLine(Header);
    }

    /// <summary>L2 exited: the basic exit reason (from the VM_EXIT_REASON write, if any) and every field the CPU wrote.</summary>
    public void Exit(ReadOnlySpan<FieldWrite> hardware)
    {
        var reason = TraceFormat.UnknownReason;
        foreach (var write in hardware)
        {
            if (write.Encoding == VmcsEncoding.ExitReason)
            {
                reason = ((ushort)write.Value).ToString(CultureInfo.InvariantCulture);
            }
        }

        _out.WriteLine(Keyword(TraceEventKind.Exit) + " " + reason);
        foreach (var write in hardware)
        {
            _out.WriteLine($"{Keyword(TraceEventKind.Hardware)} {Name(write.Encoding)} {Hex(write.Value)}");
        }
    }

    /// <summary>L1's VMREAD and what it got.</summary>
    public void Read(ulong encoding, VmxResult result, ulong value) =>
        _out.WriteLine($"{Keyword(TraceEventKind.Read)} {Name(encoding)} {(result.IsSuccess ? Hex(value) : TraceFormat.Fail)}");

    /// <summary>L1's VMWRITE.</summary>
    public void Write(ulong encoding, ulong value, VmxResult result) =>
        Instruction($"{Keyword(TraceEventKind.Write)} {Name(encoding)} {Hex(value)}", result);

    /// <summary>L1's VMLAUNCH.</summary>
    public void Launch(VmxResult result) => Instruction(Keyword(TraceEventKind.Launch), result);

    /// <summary>L1's VMRESUME: the round trip ends.</summary>
    public void Resume(VmxResult result) => Instruction(Keyword(TraceEventKind.Resume), result);

    /// <summary>Another instruction of L1 (<c>vmptrld 0x…</c>, <c>vmclear 0x…</c>, <c>vmptrst</c>, <c>vmxon 0x…</c>, <c>vmxoff</c>).</summary>
    public void Instruction(string line, VmxResult result) => _out.WriteLine(result.IsSuccess ? line : line + " " + TraceFormat.Fail);

    /// <summary>L0 wrote a field through to vmcs12 at an L2 WRMSR it intercepted.</summary>
    public void WriteThrough(uint encoding, ulong value) => _out.WriteLine($"{Keyword(TraceEventKind.WriteThrough)} {Name(encoding)} {Hex(value)}");

    /// <summary>KVM_SET_NESTED_STATE.</summary>
    public void Import() => _out.WriteLine(Keyword(TraceEventKind.Import));

    /// <summary>A workload event with a fixed cost (NestedSim's <c>l1-userspace</c>, <c>l1-inject</c>).</summary>
    public void Event(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny(" \t\r\n#") >= 0)
        {
            throw new ArgumentException($"An event name is one word, got '{name}'.", nameof(name));
        }

        _out.WriteLine(Keyword(TraceEventKind.Event) + " " + name);
    }

    /// <summary>The line of an instruction with an address operand (<c>vmptrld 0x…</c>).</summary>
    /// <summary>L1's VMREAD written (<see cref="Read"/>), its result handed on: the recording decorators' pass-through.</summary>
    internal VmxResult RecordRead(ulong encoding, VmxResult result, ulong value)
    {
        Read(encoding, result, value);
        return result;
    }

    /// <summary>L1's VMWRITE written (<see cref="Write"/>), its result handed on.</summary>
    internal VmxResult RecordWrite(ulong encoding, ulong value, VmxResult result)
    {
        Write(encoding, value, result);
        return result;
    }

    /// <summary>Another instruction written (<see cref="Instruction"/>), its result handed on.</summary>
    internal VmxResult RecordInstruction(string line, VmxResult result)
    {
        Instruction(line, result);
        return result;
    }

    internal static string WithAddress(TraceEventKind kind, ulong address) => Keyword(kind) + " " + Hex(address);

    internal static string Hex(ulong value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture);

    private string Name(ulong encoding) => encoding <= uint.MaxValue && _names.TryGetValue((uint)encoding, out var name) ? name : Hex(encoding);
}
