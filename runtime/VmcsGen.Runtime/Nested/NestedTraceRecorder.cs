using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace VmcsGen.Nested;

/// <summary>
/// Writes the versioned text trace of docs/TRACE.md (<c>vmcsgen-trace 1</c>), one event per line as it happens (a trace
/// streams, and gzips well: it is repetitive text): per L2 exit the exit reason and what the CPU wrote, then L1's
/// VMREADs and VMWRITEs with their values until VMRESUME. A field the layout does not name is written by encoding.
/// <see cref="NestedTraceRecorder"/> (any <see cref="INestedEngine"/>) and <see cref="RecordingVmcs{TVmcs}"/> (any
/// <see cref="IVmcs"/>) write through one; NestedSim's advisor reads the result (<c>advise --trace</c>, <c>convert</c>).
/// </summary>
public sealed class NestedTraceWriter
{
    /// <summary>The first line of every trace: the format and its version.</summary>
    public const string Header = "vmcsgen-trace 1";

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
        var reason = "?";
        foreach (var write in hardware)
        {
            if (write.Encoding == VmcsEncoding.ExitReason)
            {
                reason = ((ushort)write.Value).ToString(CultureInfo.InvariantCulture);
            }
        }

        _out.WriteLine("exit " + reason);
        foreach (var write in hardware)
        {
            _out.WriteLine($"hw {Name(write.Encoding)} {Hex(write.Value)}");
        }
    }

    /// <summary>L1's VMREAD and what it got.</summary>
    public void Read(ulong encoding, VmxResult result, ulong value) =>
        _out.WriteLine(result.IsSuccess ? $"read {Name(encoding)} {Hex(value)}" : $"read {Name(encoding)} fail");

    /// <summary>L1's VMWRITE.</summary>
    public void Write(ulong encoding, ulong value, VmxResult result) =>
        _out.WriteLine(result.IsSuccess ? $"write {Name(encoding)} {Hex(value)}" : $"write {Name(encoding)} {Hex(value)} fail");

    /// <summary>L1's VMLAUNCH.</summary>
    public void Launch(VmxResult result) => Instruction("launch", result);

    /// <summary>L1's VMRESUME: the round trip ends.</summary>
    public void Resume(VmxResult result) => Instruction("resume", result);

    /// <summary>Another instruction of L1 (<c>vmptrld 0x…</c>, <c>vmclear 0x…</c>, <c>vmptrst</c>, <c>vmxon 0x…</c>, <c>vmxoff</c>).</summary>
    public void Instruction(string line, VmxResult result) => _out.WriteLine(result.IsSuccess ? line : line + " fail");

    /// <summary>L0 wrote a field through to vmcs12 at an L2 WRMSR it intercepted.</summary>
    public void WriteThrough(uint encoding, ulong value) => _out.WriteLine($"write-through {Name(encoding)} {Hex(value)}");

    /// <summary>KVM_SET_NESTED_STATE.</summary>
    public void Import() => _out.WriteLine("import");

    /// <summary>A workload event with a fixed cost (NestedSim's <c>l1-userspace</c>, <c>l1-inject</c>).</summary>
    public void Event(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny(" \t\r\n#") >= 0)
        {
            throw new ArgumentException($"An event name is one word, got '{name}'.", nameof(name));
        }

        _out.WriteLine("event " + name);
    }

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

    internal static string Hex(ulong value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture);

    private string Name(ulong encoding) => encoding <= uint.MaxValue && _names.TryGetValue((uint)encoding, out var name) ? name : Hex(encoding);
}

/// <summary>
/// A recording decorator for any nested engine: everything L1 and L2 do passes through to the engine unchanged and is
/// written to a <see cref="NestedTraceWriter"/>. Run your L1's handlers on it (through <see cref="NestedL1Vmcs"/> if they
/// are written against <see cref="IVmcs"/>), or NestedSim's workloads (<c>record</c>).
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
    /// <summary>The first line of every trace (<see cref="NestedTraceWriter.Header"/>).</summary>
    public const string Header = NestedTraceWriter.Header;

    private readonly INestedEngine _inner;

    /// <param name="inner">The engine that does the work.</param>
    /// <param name="output">Where the trace goes; the header line is written now.</param>
    /// <param name="fields">The layout's fields (e.g. <see cref="LayoutHandle.Fields"/>), to write names instead of encodings.</param>
    public NestedTraceRecorder(INestedEngine inner, TextWriter output, IEnumerable<VmcsFieldDescriptor> fields)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        Trace = new NestedTraceWriter(output, fields);
    }

    /// <summary>The trace being written (for events: <c>Trace.Event("l1-userspace")</c>).</summary>
    public NestedTraceWriter Trace { get; }

    public L1Memory Memory => _inner.Memory;

    public bool InL2 => _inner.InL2;

    /// <summary>Records a workload event with a fixed cost (NestedSim's <c>l1-userspace</c>, <c>l1-inject</c>).</summary>
    public void Event(string name) => Trace.Event(name);

    public VmxResult L1VmRead(ulong encoding, out ulong value) => Trace.RecordRead(encoding, _inner.L1VmRead(encoding, out value), value);

    public VmxResult L1VmWrite(ulong encoding, ulong value) => Trace.RecordWrite(encoding, value, _inner.L1VmWrite(encoding, value));

    public VmxResult L1VmPtrLd(ulong address) => Trace.RecordInstruction("vmptrld " + NestedTraceWriter.Hex(address), _inner.L1VmPtrLd(address));

    public VmxResult L1VmClear(ulong address) => Trace.RecordInstruction("vmclear " + NestedTraceWriter.Hex(address), _inner.L1VmClear(address));

    public VmxResult L1VmLaunch()
    {
        var result = _inner.L1VmLaunch();
        Trace.Launch(result);
        return result;
    }

    public VmxResult L1VmResume()
    {
        var result = _inner.L1VmResume();
        Trace.Resume(result);
        return result;
    }

    public VmxResult L1VmPtrSt(out ulong pointer) => Trace.RecordInstruction("vmptrst", _inner.L1VmPtrSt(out pointer));

    public VmxResult L1VmxOn(ulong address) => Trace.RecordInstruction("vmxon " + NestedTraceWriter.Hex(address), _inner.L1VmxOn(address));

    public VmxResult L1VmxOff() => Trace.RecordInstruction("vmxoff", _inner.L1VmxOff());

    public void L2Exit(ReadOnlySpan<FieldWrite> hardware)
    {
        _inner.L2Exit(hardware);
        Trace.Exit(hardware);
    }

    public void L2WriteThrough(uint encoding, ulong value)
    {
        _inner.L2WriteThrough(encoding, value);
        Trace.WriteThrough(encoding, value);
    }

    public void ImportNestedState(NestedState state)
    {
        _inner.ImportNestedState(state);
        Trace.Import();
    }

    public NestedState ExportNestedState() => _inner.ExportNestedState();
}

/// <summary>
/// A recording decorator for any <see cref="IVmcs"/>: an L1 whose VMX instructions go through an IVmcs backend (its own,
/// or <see cref="NestedL1Vmcs"/>) has each VMREAD, VMWRITE, VMPTRLD and VMCLEAR written to the trace; the L1 marks its
/// exits and resumes on <see cref="Trace"/> (<c>Exit</c>, <c>Resume</c>), which an IVmcs does not see.
/// </summary>
public struct RecordingVmcs<TVmcs> : IVmcs
    where TVmcs : struct, IVmcs
{
    private TVmcs _inner;

    public RecordingVmcs(TVmcs inner, NestedTraceWriter trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        _inner = inner;
        Trace = trace;
    }

    public NestedTraceWriter Trace { get; }

    public VmxResult VmRead(uint encoding, out ulong value) => Trace.RecordRead(encoding, _inner.VmRead(encoding, out value), value);

    public VmxResult VmWrite(uint encoding, ulong value) => Trace.RecordWrite(encoding, value, _inner.VmWrite(encoding, value));

    public VmxResult VmPtrLd(ulong address) => Trace.RecordInstruction("vmptrld " + NestedTraceWriter.Hex(address), _inner.VmPtrLd(address));

    public VmxResult VmClear(ulong address) => Trace.RecordInstruction("vmclear " + NestedTraceWriter.Hex(address), _inner.VmClear(address));
}

/// <summary>
/// L1's VMREAD, VMWRITE, VMPTRLD and VMCLEAR on a nested engine, as an <see cref="IVmcs"/>: L1 handler code written
/// against IVmcs (generic over <c>TVmcs : struct, IVmcs</c>, like the generated accessors) runs on the engine, in VMX
/// non-root operation, with the shadow VMCS deciding each access.
/// </summary>
public readonly struct NestedL1Vmcs(INestedEngine engine) : IVmcs
{
    public VmxResult VmRead(uint encoding, out ulong value) => engine.L1VmRead(encoding, out value);

    public VmxResult VmWrite(uint encoding, ulong value) => engine.L1VmWrite(encoding, value);

    public VmxResult VmPtrLd(ulong address) => engine.L1VmPtrLd(address);

    public VmxResult VmClear(ulong address) => engine.L1VmClear(address);
}
