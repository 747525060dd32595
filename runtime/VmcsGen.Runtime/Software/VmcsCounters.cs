namespace VmcsGen.Software;

/// <summary>Counts of VMX instructions a <see cref="SoftwareVmx"/> executed; snapshot and subtract to measure a span of work.</summary>
public readonly record struct VmcsCounters(long VmReads, long VmWrites, long VmPtrLds, long VmClears, long VmEntries)
{
    public static VmcsCounters operator -(VmcsCounters after, VmcsCounters before) => new(
        after.VmReads - before.VmReads,
        after.VmWrites - before.VmWrites,
        after.VmPtrLds - before.VmPtrLds,
        after.VmClears - before.VmClears,
        after.VmEntries - before.VmEntries);

    public override string ToString() =>
        $"{VmReads} VMREAD, {VmWrites} VMWRITE, {VmPtrLds} VMPTRLD, {VmClears} VMCLEAR, {VmEntries} VM entries";
}
