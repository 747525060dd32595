using System;
using System.Collections.Generic;

namespace VmcsGen.Nested;

/// <summary>
/// How much VMCS traffic the engine's transitions carry besides the manifest's copy loops, for tools that model the
/// engine's counts (NestedSim's classification advisor): the facts behind <see cref="NestedVmxOptions.LoadHostStateIntoVmcs01"/>
/// and <see cref="NestedVmxOptions.Pre2019VmcsTraffic"/>.
/// </summary>
public static class NestedTraffic
{
    /// <summary>VMWRITEs into vmcs01 of <c>load_vmcs12_host_state</c> on every nested exit.</summary>
    public static int HostStateLoadWrites => HostStateLoad.Writes.Length;

    /// <summary>The vmcs02 fields pre-2019 KVM wrote on every nested entry (each written when the layout has it).</summary>
    public static IReadOnlyList<uint> LegacyEntryWriteEncodings { get; } = Array.AsReadOnly(HostStateLoad.LegacyEntryWrites);
}
