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

    public VmxResult VmRead(uint encoding, out ulong value) => Trace.RecordRead(encoding, _inner.VmRead(encoding, out value), value);

    public VmxResult VmWrite(uint encoding, ulong value) => Trace.RecordWrite(encoding, value, _inner.VmWrite(encoding, value));

    public VmxResult VmPtrLd(ulong address) => Trace.RecordInstruction(NestedTraceWriter.WithAddress(TraceEventKind.VmPtrLd, address), _inner.VmPtrLd(address));

    public VmxResult VmClear(ulong address) => Trace.RecordInstruction(NestedTraceWriter.WithAddress(TraceEventKind.VmClear, address), _inner.VmClear(address));
}
