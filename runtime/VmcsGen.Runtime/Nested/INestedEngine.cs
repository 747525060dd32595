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

    /// <summary>L1's VMREAD; <paramref name="encoding"/> is the whole 64-bit register (bits 63:32 set: VMfailValid(12)).</summary>
    VmxResult L1VmRead(ulong encoding, out ulong value);

    /// <summary>L1's VMWRITE; <paramref name="encoding"/> is the whole 64-bit register.</summary>
    VmxResult L1VmWrite(ulong encoding, ulong value);

    /// <summary>L1's VMPTRST: the current-VMCS pointer, -1 without one.</summary>
    VmxResult L1VmPtrSt(out ulong pointer);

    /// <summary>L1's VMXON with the region at <paramref name="address"/> in its memory (VMfail(15) when already in VMX operation).</summary>
    VmxResult L1VmxOn(ulong address);

    /// <summary>L1's VMXOFF: the current vmcs12 is dropped (as KVM's free_nested), and every VMX instruction but VMXON is #UD until VMXON.</summary>
    VmxResult L1VmxOff();

    /// <summary>
    /// While L2 runs, L0 handles an intercepted WRMSR of L2 that L1 does not intercept and writes the value through to vmcs12
    /// (and vmcs02), as KVM does for PAT, DEBUGCTL and SYSENTER_* since 2019: a <c>no-sync</c> field changing in L2.
    /// </summary>
    void L2WriteThrough(uint encoding, ulong value);

    /// <summary>KVM_SET_NESTED_STATE: the engine takes an exported state (regions, current vmcs12, in L2 or not) as its own.</summary>
    void ImportNestedState(NestedState state);

    VmxResult L1VmPtrLd(ulong address);

    VmxResult L1VmClear(ulong address);

    VmxResult L1VmLaunch();

    VmxResult L1VmResume();

    void L2Exit(ReadOnlySpan<FieldWrite> hardware);

    NestedState ExportNestedState();
}
