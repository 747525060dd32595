using System.Collections.Generic;

namespace VmcsGen.Nested;

/// <summary>
/// What <c>ExportNestedState</c> returns and <c>ImportNestedState</c> takes (KVM_GET/SET_NESTED_STATE): the current vmcs12
/// (flushed) and L1's VMCS regions.
/// </summary>
public sealed record NestedState(ulong CurrentVmcs12, byte[]? Vmcs12, IReadOnlyDictionary<ulong, byte[]> L1Regions, bool InL2)
{
    /// <summary>
    /// L1's VMXON pointer (KVM's vmxon_pa): -1 (<see cref="ulong.MaxValue"/>) when L1 is not in VMX operation; null (a state
    /// built by hand) means the importing engine keeps its own. Every export sets it.
    /// </summary>
    public ulong? VmxonPointer { get; init; }
}
