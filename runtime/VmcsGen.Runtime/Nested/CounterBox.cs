namespace VmcsGen.Nested;

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
