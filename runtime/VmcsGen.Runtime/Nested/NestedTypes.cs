using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VmcsGen.Nested;

/// <summary>A value the CPU writes into vmcs02 when L2 exits (exit information, changed guest state).</summary>
public readonly record struct FieldWrite(uint Encoding, ulong Value);

/// <summary>Why L1 exited to L0.</summary>
public enum ExitCause
{
    Vmread,
    Vmwrite,
    Vmptrld,
    Vmclear,
    Vmlaunch,
    Vmresume,
}

/// <summary>
/// How the engine behaves. The defaults are today's KVM; the three <c>Pre2019…</c> switches bring back what KVM did
/// before the 2019 "VMX optimizations" series, so the simulator can compare eras on the same manifest.
/// </summary>
public sealed record NestedVmxOptions
{
    /// <summary>Use a shadow VMCS for L1's VMREAD/VMWRITE (off: every access exits).</summary>
    public bool UseShadowVmcs { get; init; } = true;

    /// <summary>Pre-2019: the shadow copy loops look each field's vmcs12 offset up at run time (compact table + width switch).</summary>
    public bool RuntimeOffsetLookup { get; init; }

    /// <summary>Pre-2019: every nested entry rewrites every control field of vmcs02, changed or not.</summary>
    public bool RewriteControlsEveryEntry { get; init; }

    /// <summary>Pre-2019: every vmcs01/vmcs02 switch also puts and loads the vCPU's state (counted, costed by the simulator).</summary>
    public bool PutVcpuOnVmcsSwitch { get; init; }

    /// <summary>
    /// Pre-2019: the VMCS traffic the 2019 series removed outside the copy loops and the manifest: GUEST_PML_INDEX, the
    /// ENCLS-exiting bitmap, the virtual-APIC and APIC-access addresses and the four PDPTRs written on every nested entry.
    /// </summary>
    public bool Pre2019VmcsTraffic { get; init; }

    /// <summary>
    /// Before Linux 4.16 (commit 74a497fae754, "KVM: nVMX: track dirty state of non-shadowed VMCS fields", December 2017):
    /// no dirty tracking of vmcs12, so every nested entry prepares vmcs02 in full from vmcs12, every dirty group written
    /// whether L1 changed it or not (prepare_vmcs02 of Linux 4.15 has no prepare_vmcs02_full split).
    /// </summary>
    public bool PrepareFullVmcs02EveryEntry { get; init; }

    /// <summary>
    /// Before commit 44900ba65e16 ("KVM: VMX: optimize shadow VMCS copying", December 2017): the shadow copy loops of
    /// Linux 4.15 switch on each field's width on the VMCS side too (vmcs_read16/32/64/readl in copy_shadow_to_vmcs12,
    /// vmcs_write16/32/64/writel in copy_vmcs12_to_shadow) besides vmcs12_read_any/vmcs12_write_any's own lookup: one more
    /// per-field run-time dispatch, counted as a run-time lookup (<see cref="NestedCounters.RuntimeLookups"/>). Takes
    /// effect with <see cref="RuntimeOffsetLookup"/>.
    /// </summary>
    public bool ShadowCopyWidthSwitch { get; init; }

    /// <summary>
    /// On every nested exit, write L1's state from vmcs12's host-state area into vmcs01 (KVM's <c>load_vmcs12_host_state</c>).
    /// On by default, as in every KVM; off only to measure the engine's field movement alone.
    /// </summary>
    public bool LoadHostStateIntoVmcs01 { get; init; } = true;

    /// <summary>
    /// L0 checks vmcs12 at L1's VMLAUNCH/VMRESUME with the processor's VM-entry rules (<see cref="Software.VmEntryChecks"/>)
    /// against this profile, L1's view of VMX (e.g. <see cref="Software.VmxProfile.Kvm"/>), as KVM's nested_vmx_check_*
    /// do: controls VMfailValid(7), host state VMfailValid(8), guest state a VM-entry failure exit to L1 (reason 33 with
    /// bit 31, qualification in vmcs12, vmcs12 not launched). Null (default): no checks, for the zeroed vmcs12s of
    /// simulations and benchmarks.
    /// </summary>
    public Software.VmxProfile? Vmcs12EntryChecks { get; init; }

    /// <summary>Features of L0's CPU (a mask of the layout's Features); null = all of them.</summary>
    public ulong? Features { get; init; }

    /// <summary>Whether L1 is told it may VMWRITE exit-information fields; null = the manifest's <c>vmwrite-any</c>.</summary>
    public bool? L1VmwriteAny { get; init; }

    /// <summary>
    /// L0 offers L1 "VMCS shadowing" (KVM does when its own CPU has it): L1 may VMPTRLD a region with the shadow-VMCS bit,
    /// as KVM's handle_vmptrld allows; without it such a VMPTRLD is VMfailValid(11).
    /// </summary>
    public bool L1VmcsShadowing { get; init; } = true;

    /// <summary>
    /// L1's VMXON region (guest-physical) when the engine starts: L1 begins in VMX operation; VMPTRLD and VMCLEAR refuse
    /// the pointer. <c>L1VmxOff</c> and <c>L1VmxOn</c> change it.
    /// </summary>
    public ulong L1VmxonPointer { get; init; } = 0x1000;

    /// <summary>L1's MAXPHYADDR.</summary>
    public int L1PhysicalAddressWidth { get; init; } = 46;
}

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

/// <summary>The mutable tallies behind <see cref="NestedCounters"/>; one per engine, shared with its counting backend.</summary>
internal sealed class CounterBox
{
    /// <summary>The counters themselves, declared once in <see cref="NestedCounters"/>; incremented in place.</summary>
    public NestedCounters Counts;

    /// <summary>The address L0 last made current, to attribute control writes to vmcs02.</summary>
    public ulong Current = ulong.MaxValue;

    /// <summary>vmcs02's controls changed since its last entry.</summary>
    public bool Vmcs02ControlsChanged;

    public ulong Vmcs02Address;

    public NestedCounters Snapshot() => Counts;
}

/// <summary>L0's view of its backend: every instruction passes through and is counted; no allocation, no dispatch.</summary>
internal struct CountingVmcs<TBackend> : IVmcs
    where TBackend : struct, IVmcs
{
    private TBackend _inner;
    private readonly CounterBox _box;

    public CountingVmcs(TBackend inner, CounterBox box)
    {
        _inner = inner;
        _box = box;
    }

    public VmxResult VmRead(uint encoding, out ulong value)
    {
        _box.Counts.VmReads++;
        return _inner.VmRead(encoding, out value);
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        _box.Counts.VmWrites++;
        if (_box.Current == _box.Vmcs02Address && VmcsEncoding.IsMajorControl(encoding))
        {
            _box.Counts.ControlVmWrites++;
            _box.Vmcs02ControlsChanged = true;
        }

        return _inner.VmWrite(encoding, value);
    }

    public VmxResult VmPtrLd(ulong address)
    {
        _box.Counts.VmPtrLds++;
        var result = _inner.VmPtrLd(address);
        if (result.IsSuccess)
        {
            _box.Current = address;
        }

        return result;
    }

    public VmxResult VmClear(ulong address)
    {
        _box.Counts.VmClears++;
        if (_box.Current == address)
        {
            _box.Current = ulong.MaxValue;
        }

        return _inner.VmClear(address);
    }
}

/// <summary>L1's guest-physical memory, as far as VMCS regions go: what VMPTRLD reads and VMCLEAR writes back.</summary>
public sealed class L1Memory
{
    private readonly Dictionary<ulong, byte[]> _regions = new();

    public L1Memory(int regionSize) => RegionSize = regionSize;

    public int RegionSize { get; }

    public IReadOnlyDictionary<ulong, byte[]> Regions => _regions;

    /// <summary>Writes a zeroed VMCS region with a revision identifier at <paramref name="address"/>, as L1 does before VMPTRLD.</summary>
    public void CreateRegion(ulong address, uint revision)
    {
        var bytes = new byte[RegionSize];
        BitConverter.TryWriteBytes(bytes, revision & 0x7FFF_FFFF);
        _regions[address] = bytes;
    }

    public bool TryGet(ulong address, out byte[] region) => _regions.TryGetValue(address, out region!);

    /// <summary>Replaces every region with a copy of <paramref name="regions"/> (KVM_SET_NESTED_STATE).</summary>
    internal void Replace(IReadOnlyDictionary<ulong, byte[]> regions)
    {
        _regions.Clear();
        foreach (var (address, bytes) in regions)
        {
            _regions[address] = (byte[])bytes.Clone();
        }
    }

    internal Dictionary<ulong, byte[]> Copy()
    {
        var copy = new Dictionary<ulong, byte[]>();
        foreach (var (address, bytes) in _regions)
        {
            copy[address] = (byte[])bytes.Clone();
        }

        return copy;
    }
}

/// <summary>vmcs12 as the VM-entry checks read it (both engines' L0 checks): a field the layout lacks reads as 0.</summary>
internal readonly struct Vmcs12Reader<TLayout, TControls>(byte[] vmcs12) : Software.IVmcsFieldReader
    where TLayout : IVmcsLayout<TControls>
    where TControls : struct
{
    public ulong Read(uint encoding) => TLayout.Read(vmcs12, encoding, out var value).IsSuccess ? value : 0;
}
