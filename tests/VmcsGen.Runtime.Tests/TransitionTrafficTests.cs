using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Nested;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The engine's VMCS traffic outside the copy loops, held to KVM's code as tests/Reference/kvm-nested-transitions.tsv
/// records it (nested.c's load_vmcs12_host_state, copy_shadow_to_vmcs12, copy_vmcs12_to_shadow, vmx_switch_vmcs,
/// copy_vmcs02_to_vmcs12_rare): the per-round-trip counts other tests assert are derived here, not counted by hand.
/// </summary>
public sealed class TransitionTrafficTests
{
    /// <summary>The exit controls KVM's own L1 sets, under which its load_vmcs12_host_state writes PAT and EFER too.</summary>
    private static readonly string[] KvmL1ExitControls = ["always", "exit load IA32_PAT", "exit load IA32_EFER"];

    private static IEnumerable<Dictionary<string, string>> Rows(string function) =>
        Reference.Read("kvm-nested-transitions.tsv").Where(r => r["function"] == function);

    private static int Count(string function, string instruction) => Rows(function).Count(r => r["instruction"] == instruction);

    /// <summary>VMWRITEs into vmcs01 on a nested exit: load_vmcs12_host_state's unconditional ones plus PAT and EFER.</summary>
    public static int HostStateLoadWrites => Rows("load_vmcs12_host_state").Count(r => KvmL1ExitControls.Contains(r["condition"]));

    /// <summary>
    /// VMPTRLDs of a steady round trip with a shadow VMCS: copy_shadow_to_vmcs12 at L1's VMRESUME, vmx_switch_vmcs to
    /// vmcs02 and back to vmcs01, copy_vmcs12_to_shadow before L1 runs again.
    /// </summary>
    public static int VmPtrLdsPerRoundTrip =>
        Count("copy_shadow_to_vmcs12", "VMPTRLD") + (2 * Count("vmx_switch_vmcs", "VMPTRLD")) + Count("copy_vmcs12_to_shadow", "VMPTRLD");

    /// <summary>VMCLEARs of the same round trip: one per shadow copy.</summary>
    public static int VmClearsPerRoundTrip => Count("copy_shadow_to_vmcs12", "VMCLEAR") + Count("copy_vmcs12_to_shadow", "VMCLEAR");

    /// <summary>VMPTRLDs the lazy rare sync adds when L1 needs a stale rare field (copy_vmcs02_to_vmcs12_rare).</summary>
    public static int RareSyncVmPtrLds => Count("copy_vmcs02_to_vmcs12_rare", "VMPTRLD");

    [Test]
    public void TheHostStateLoadModelWritesWhatKvmsLoadVmcs12HostStateWrites()
    {
        var names = Reference.Fields().ToDictionary(f => f.Name, f => f.Encoding);
        var kvm = Rows("load_vmcs12_host_state").Where(r => KvmL1ExitControls.Contains(r["condition"])).Select(r => names[r["target"]]).ToList();
        var left = Rows("load_vmcs12_host_state").Where(r => !KvmL1ExitControls.Contains(r["condition"])).Select(r => r["target"]);

        Assert.That(HostStateLoad.Writes.Select(w => w.Guest), Is.EquivalentTo(kvm), "the engine's declared model (HostStateLoad.Writes)");
        Assert.That(NestedTraffic.HostStateLoadWrites, Is.EqualTo(HostStateLoadWrites));
        Assert.That(left, Is.EquivalentTo(new[] { "GUEST_INTERRUPTIBILITY_INFO", "GUEST_BNDCFGS" }),
            "not modelled: the interrupt shadow is written only when it changes, BNDCFGS only under 'clear IA32_BNDCFGS'");
        Assert.That(HostStateLoadWrites, Is.EqualTo(19 + (8 * 4)), "19 registers and MSRs, 8 segments x 4 fields (__vmx_set_segment)");
    }

    [Test]
    public void ARoundTripSwitchesVmcsesAsKvmsFunctionsDo()
    {
        Assert.That((VmPtrLdsPerRoundTrip, VmClearsPerRoundTrip, RareSyncVmPtrLds), Is.EqualTo((6, 2, 2)),
            "2 per shadow copy (shadow, then back), 1 per vmx_switch_vmcs; 1 VMCLEAR per shadow copy; the rare sync loads vmcs02 and vmcs01");
    }
}
