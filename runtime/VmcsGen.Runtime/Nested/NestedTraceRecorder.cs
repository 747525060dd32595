using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace VmcsGen.Nested;

/// <summary>
/// A recording decorator for any nested engine: everything L1 and L2 do passes through to the engine unchanged and is
/// written to a trace, one event per line, in the versioned text format of docs/TRACE.md (<c>vmcsgen-trace 1</c>): per
/// L2 exit the exit reason and what the CPU wrote, then L1's VMREADs and VMWRITEs with their values until VMRESUME.
/// Lines are written as the events happen (a trace streams, and gzips well: it is repetitive text); a field the layout
/// does not name is written by encoding. NestedSim's advisor reads such traces (<c>advise --trace</c>) and turns them into
/// workloads (<c>trace-to-workload</c>).
/// </summary>
/// <example>
/// <code>
/// using var file = File.CreateText("l1.trace");
/// var engine = new NestedTraceRecorder(Layouts.Kvm.Layout.Handle.CreateEngine(), file, Layouts.Kvm.Layout.Handle.Fields);
/// // ... run L1's handlers on engine ...
/// engine.Event("l1-userspace"); // a cost event NestedSim knows, e.g. L1 went to its userspace
/// </code>
/// </example>
public sealed class NestedTraceRecorder : INestedEngine
{
    /// <summary>The first line of every trace: the format and its version.</summary>
    public const string Header = "vmcsgen-trace 1";

    private readonly INestedEngine _inner;
    private readonly TextWriter _out;
    private readonly Dictionary<uint, string> _names = new();

    /// <param name="inner">The engine that does the work.</param>
    /// <param name="output">Where the trace goes; the header line is written now.</param>
    /// <param name="fields">The layout's fields (e.g. <see cref="LayoutHandle.Fields"/>), to write names instead of encodings.</param>
    public NestedTraceRecorder(INestedEngine inner, TextWriter output, IEnumerable<VmcsFieldDescriptor> fields)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(fields);
        _inner = inner;
        _out = output;
        foreach (var field in fields)
        {
            _names.TryAdd(field.Encoding, field.Name);
        }

        _out.WriteLine(Header);
    }

    public L1Memory Memory => _inner.Memory;

    public bool InL2 => _inner.InL2;

    /// <summary>Records a workload event with a fixed cost (NestedSim's <c>l1-userspace</c>, <c>l1-inject</c>).</summary>
    public void Event(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny(" \t\r\n#") >= 0)
        {
            throw new ArgumentException($"An event name is one word, got '{name}'.", nameof(name));
        }

        _out.WriteLine("event " + name);
    }

    public VmxResult L1VmRead(ulong encoding, out ulong value)
    {
        var result = _inner.L1VmRead(encoding, out value);
        _out.WriteLine(result.IsSuccess ? $"read {Name(encoding)} {Hex(value)}" : $"read {Name(encoding)} fail");
        return result;
    }

    public VmxResult L1VmWrite(ulong encoding, ulong value)
    {
        var result = _inner.L1VmWrite(encoding, value);
        _out.WriteLine(result.IsSuccess ? $"write {Name(encoding)} {Hex(value)}" : $"write {Name(encoding)} {Hex(value)} fail");
        return result;
    }

    public VmxResult L1VmPtrLd(ulong address) => Instruction("vmptrld " + Hex(address), _inner.L1VmPtrLd(address));

    public VmxResult L1VmClear(ulong address) => Instruction("vmclear " + Hex(address), _inner.L1VmClear(address));

    public VmxResult L1VmLaunch() => Instruction("launch", _inner.L1VmLaunch());

    public VmxResult L1VmResume() => Instruction("resume", _inner.L1VmResume());

    public VmxResult L1VmPtrSt(out ulong pointer) => Instruction("vmptrst", _inner.L1VmPtrSt(out pointer));

    public VmxResult L1VmxOn(ulong address) => Instruction("vmxon " + Hex(address), _inner.L1VmxOn(address));

    public VmxResult L1VmxOff() => Instruction("vmxoff", _inner.L1VmxOff());

    public void L2Exit(ReadOnlySpan<FieldWrite> hardware)
    {
        var reason = "?";
        foreach (var write in hardware)
        {
            if (write.Encoding == VmcsEncoding.ExitReason)
            {
                reason = ((ushort)write.Value).ToString(CultureInfo.InvariantCulture);
            }
        }

        _inner.L2Exit(hardware);
        _out.WriteLine("exit " + reason);
        foreach (var write in hardware)
        {
            _out.WriteLine($"hw {Name(write.Encoding)} {Hex(write.Value)}");
        }
    }

    public void L2WriteThrough(uint encoding, ulong value)
    {
        _inner.L2WriteThrough(encoding, value);
        _out.WriteLine($"write-through {Name(encoding)} {Hex(value)}");
    }

    public void ImportNestedState(NestedState state)
    {
        _inner.ImportNestedState(state);
        _out.WriteLine("import");
    }

    public NestedState ExportNestedState() => _inner.ExportNestedState();

    private VmxResult Instruction(string line, VmxResult result)
    {
        _out.WriteLine(result.IsSuccess ? line : line + " fail");
        return result;
    }

    private string Name(ulong encoding) => encoding <= uint.MaxValue && _names.TryGetValue((uint)encoding, out var name) ? name : Hex(encoding);

    private static string Hex(ulong value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture);
}
