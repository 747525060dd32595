using System;
using VmcsGen.Tracing;

namespace VmcsGen.Nested;

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

    public VmxResult VmRead(uint encoding, out ulong value)
    {
        var result = _inner.VmRead(encoding, out value);
        Trace.Read(encoding, result, value);
        return result;
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        var result = _inner.VmWrite(encoding, value);
        Trace.Write(encoding, value, result);
        return result;
    }

    public VmxResult VmPtrLd(ulong address)
    {
        var result = _inner.VmPtrLd(address);
        Trace.Instruction(NestedTraceWriter.WithAddress(TraceEventKind.VmPtrLd, address), result);
        return result;
    }

    public VmxResult VmClear(ulong address)
    {
        var result = _inner.VmClear(address);
        Trace.Instruction(NestedTraceWriter.WithAddress(TraceEventKind.VmClear, address), result);
        return result;
    }
}
