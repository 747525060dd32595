using System;

namespace VmcsGen.Nested;

/// <summary>
/// An engine of any layout, for tools that pick the layout at run time (the simulator, the KVM probe). The engine's own
/// hot path stays specialised per layout; only the calls through this interface are virtual.
/// </summary>
public interface INestedEngine
{
    L1Memory Memory { get; }

    bool InL2 { get; }

    VmxResult L1VmRead(uint encoding, out ulong value);

    VmxResult L1VmWrite(uint encoding, ulong value);

    VmxResult L1VmPtrLd(ulong address);

    VmxResult L1VmClear(ulong address);

    VmxResult L1VmLaunch();

    VmxResult L1VmResume();

    void L2Exit(ReadOnlySpan<FieldWrite> hardware);

    NestedState ExportNestedState();
}
