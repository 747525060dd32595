using System;
using System.Collections.Generic;
using System.IO;
using VmcsGen.Tracing;

namespace VmcsGen.Nested;

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

    public VmxResult L1VmPtrLd(ulong address) =>
        Trace.RecordInstruction(NestedTraceWriter.WithAddress(TraceEventKind.VmPtrLd, address), _inner.L1VmPtrLd(address));

    public VmxResult L1VmClear(ulong address) =>
        Trace.RecordInstruction(NestedTraceWriter.WithAddress(TraceEventKind.VmClear, address), _inner.L1VmClear(address));

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

    public VmxResult L1VmPtrSt(out ulong pointer) => Trace.RecordInstruction(TraceFormat.Keyword(TraceEventKind.VmPtrSt), _inner.L1VmPtrSt(out pointer));

    public VmxResult L1VmxOn(ulong address) => Trace.RecordInstruction(NestedTraceWriter.WithAddress(TraceEventKind.VmxOn, address), _inner.L1VmxOn(address));

    public VmxResult L1VmxOff() => Trace.RecordInstruction(TraceFormat.Keyword(TraceEventKind.VmxOff), _inner.L1VmxOff());

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
