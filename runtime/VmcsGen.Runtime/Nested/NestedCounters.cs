using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VmcsGen.Nested;

/// <summary>
/// Every operation of the nested engine, counted; subtract two snapshots to measure a span. L0's instructions are
/// counted where L0 issues them; L1's shadowed accesses (which never reach L0) are counted apart.
/// </summary>
public record struct NestedCounters
{
    public long ExitsVmread { get; set; }
    public long ExitsVmwrite { get; set; }
    public long ExitsVmptrld { get; set; }
    public long ExitsVmclear { get; set; }
    public long ExitsVmlaunch { get; set; }
    public long ExitsVmresume { get; set; }

    /// <summary>L0's VMREADs (copy loops, syncs, emulation).</summary>
    public long VmReads { get; set; }

    /// <summary>L0's VMWRITEs.</summary>
    public long VmWrites { get; set; }

    /// <summary>
    /// L0's VMWRITEs to vmcs02's execution, exit and entry controls (<see cref="VmcsEncoding.IsMajorControl"/>): each makes
    /// the next entry run full consistency checks.
    /// </summary>
    public long ControlVmWrites { get; set; }

    public long VmPtrLds { get; set; }
    public long VmClears { get; set; }

    /// <summary>Nested entries whose vmcs02 had a major control written since its last entry.</summary>
    public long FullConsistencyChecks { get; set; }

    public long NestedEntries { get; set; }
    public long NestedExits { get; set; }

    /// <summary>vCPU state put/load pairs on vmcs01/vmcs02 switches (pre-2019 behaviour).</summary>
    public long VcpuStateSwitches { get; set; }

    /// <summary>vmcs12 → shadow VMCS copies.</summary>
    public long ShadowSyncs { get; set; }

    /// <summary>Lazy rare-set copies from vmcs02.</summary>
    public long RareSyncs { get; set; }

    /// <summary>Fields whose vmcs12 offset a copy loop looked up at run time (pre-2019 behaviour).</summary>
    public long RuntimeLookups { get; set; }

    /// <summary>L1 VMREADs served by the shadow VMCS without an exit.</summary>
    public long ShadowedVmreads { get; set; }

    /// <summary>L1 VMWRITEs served by the shadow VMCS without an exit.</summary>
    public long ShadowedVmwrites { get; set; }

    /// <summary>L1's VMPTRST, VMXON and VMXOFF: they always exit, and nothing in the manifest changes what they cost.</summary>
    public long ExitsOther { get; set; }

    /// <summary>Nested entries that ended in a VM-entry failure exit (<see cref="NestedVmxOptions.Vmcs12EntryChecks"/>).</summary>
    public long EntryFailures { get; set; }

    public long L1Exits => ExitsVmread + ExitsVmwrite + ExitsVmptrld + ExitsVmclear + ExitsVmlaunch + ExitsVmresume + ExitsOther;

    public long Exits(ExitCause cause) => cause switch
    {
        ExitCause.Vmread => ExitsVmread,
        ExitCause.Vmwrite => ExitsVmwrite,
        ExitCause.Vmptrld => ExitsVmptrld,
        ExitCause.Vmclear => ExitsVmclear,
        ExitCause.Vmlaunch => ExitsVmlaunch,
        _ => ExitsVmresume,
    };

    /// <summary>Every counter of <paramref name="a"/> minus the same counter of <paramref name="b"/>.</summary>
    public static NestedCounters operator -(NestedCounters a, NestedCounters b)
    {
        var left = Tallies(ref a);
        var right = Tallies(ref b);
        for (var i = 0; i < left.Length; i++)
        {
            left[i] -= right[i];
        }

        return a;
    }

    /// <summary>Every counter of <paramref name="a"/> plus the same counter of <paramref name="b"/>.</summary>
    public static NestedCounters operator +(NestedCounters a, NestedCounters b)
    {
        var left = Tallies(ref a);
        var right = Tallies(ref b);
        for (var i = 0; i < left.Length; i++)
        {
            left[i] += right[i];
        }

        return a;
    }

    /// <summary>Every counter of <paramref name="a"/> times <paramref name="times"/>: <paramref name="times"/> spans alike.</summary>
    public static NestedCounters operator *(NestedCounters a, long times)
    {
        var tallies = Tallies(ref a);
        for (var i = 0; i < tallies.Length; i++)
        {
            tallies[i] *= times;
        }

        return a;
    }

    /// <summary>The counters as one span: the struct holds nothing but the long behind each property, in order.</summary>
    private static Span<long> Tallies(ref NestedCounters counters) =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<NestedCounters, long>(ref counters), Unsafe.SizeOf<NestedCounters>() / sizeof(long));
}
