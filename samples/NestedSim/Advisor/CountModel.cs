using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>
/// One kind of round trip of a workload, reduced to what the engine's counts depend on: the fields L1 reads and writes
/// (indices into the classification, -1 for a field the layout lacks, duplicates kept) and the control fields whose
/// value at this entry differs from the previous entry's. <see cref="Count"/> round trips of the trace have this shape.
/// </summary>
public sealed record RoundPattern(int Exit, int[] Reads, int[] Writes, int[] ChangedControls, long Count);

/// <summary>A workload's measured round trips grouped into patterns, with its events; built once per field set.</summary>
/// <param name="Trace">The round trips the profile was built from, for running the same ones on an engine.</param>
public sealed record WorkloadProfile(
    Workload Workload, double Weight, long Rounds, IReadOnlyList<RoundPattern> Patterns, IReadOnlyDictionary<string, long> Events, Round[] Trace)
{
    private Dictionary<int, double>? _readShares, _writeShares;

    /// <summary>Round trips in which L1 reads (or writes) the field, over all measured round trips.</summary>
    public double ReadShare(int field) => (_readShares ??= Shares(p => p.Reads)).GetValueOrDefault(field);

    public double WriteShare(int field) => (_writeShares ??= Shares(p => p.Writes)).GetValueOrDefault(field);

    private Dictionary<int, double> Shares(Func<RoundPattern, int[]> accesses)
    {
        var shares = new Dictionary<int, double>();
        foreach (var pattern in Patterns)
        {
            foreach (var field in accesses(pattern).Distinct())
            {
                shares[field] = shares.GetValueOrDefault(field) + (double)pattern.Count / Rounds;
            }
        }

        return shares;
    }

    /// <summary>
    /// Replays the same trace <see cref="Simulator.Run"/> replays (setup, launch, warm-up, then the measured rounds) and
    /// keeps, per measured round, what L1 touched and which control values changed: nothing here depends on the classes.
    /// </summary>
    public static WorkloadProfile Build(Classification fields, Workload workload, IReadOnlyDictionary<string, uint> names, Round[] trace, double weight = 1)
    {
        var known = new Dictionary<uint, ulong>();
        var vmcs12 = new ulong[fields.Fields.Length];
        var atLastEntry = new ulong[fields.Fields.Length];
        var controls = Enumerable.Range(0, fields.Fields.Length).Where(i => fields.Fields[i].Type == FieldType.Control).ToArray();

        bool Write(uint encoding, ulong value)
        {
            var i = fields.IndexOf(encoding);
            if (i < 0 || !FieldRules.L1MayWrite(fields.Fields[i].Type, fields.VmwriteAny))
            {
                return false;
            }

            known[encoding] = value;
            if ((encoding & 1) == 0 || fields.Fields[i].Width != FieldWidth.Bits64)
            {
                vmcs12[i] = Narrow(fields.Fields[i].Width, value);
            }

            return true;
        }

        foreach (var step in workload.Setup)
        {
            var encoding = names[step.Field];
            Write(encoding, Simulator.Resolve(step.Value, known, encoding, 0));
        }

        int[] Entry()
        {
            var changed = controls.Where(i => vmcs12[i] != atLastEntry[i]).ToArray();
            foreach (var i in controls)
            {
                atLastEntry[i] = vmcs12[i];
            }

            return changed;
        }

        Entry();
        var patterns = new Dictionary<string, (RoundPattern Pattern, long Count)>(StringComparer.Ordinal);
        var events = WorkloadParser.Events.ToDictionary(e => e, _ => 0L, StringComparer.Ordinal);
        var warmup = Math.Min(Simulator.WarmupRounds, trace.Length);
        for (var n = 0; n < warmup + trace.Length; n++)
        {
            var round = trace[n < warmup ? n : n - warmup];
            var reads = new List<int>();
            var writes = new List<int>();
            foreach (var action in round.Handler)
            {
                var i = fields.IndexOf(action.Encoding);
                if (action.Kind == StepKind.Read)
                {
                    reads.Add(i);
                    if (i >= 0 && fields.Fields[i].Type == FieldType.Control)
                    {
                        known[action.Encoding] = vmcs12[i];
                    }
                }
                else
                {
                    writes.Add(i);
                    if (i >= 0 && fields.Fields[i].Type == FieldType.Control)
                    {
                        Write(action.Encoding, Simulator.Resolve(action.Value, known, action.Encoding, action.Random));
                    }
                }
            }

            var changed = Entry();
            if (n < warmup)
            {
                continue;
            }

            foreach (var e in round.Events ?? [])
            {
                events[e]++;
            }

            var key = $"{round.Exit}|{string.Join(',', reads)}|{string.Join(',', writes)}|{string.Join(',', changed)}";
            patterns[key] = patterns.TryGetValue(key, out var seen)
                ? (seen.Pattern, seen.Count + 1)
                : (new RoundPattern(round.Exit, reads.ToArray(), writes.ToArray(), changed, 0), 1);
        }

        return new WorkloadProfile(workload, weight, trace.Length, patterns.Values.Select(p => p.Pattern with { Count = p.Count }).ToList(), events, trace);
    }

    private static ulong Narrow(FieldWidth width, ulong value) => width switch
    {
        FieldWidth.Bits16 => (ushort)value,
        FieldWidth.Bits32 => (uint)value,
        _ => value,
    };
}

/// <summary>
/// The engine's counts of a classification on a workload, computed instead of run: NestedVmx's steady-state round trip
/// (nested exit, L1's handler, VMRESUME) written out as arithmetic over the copy sets the generator derives from the
/// classes (<see cref="FieldRules.CopySetsOf"/>, as VmcsManifest: every-exit sync, rare set, shadow RW/RO, entry fields by
/// dirty group, control shadows). Every
/// round trip starts from the same state (no group dirty, rare set stale, shadow in step), so a workload's count is the
/// sum over its patterns. Exact, not approximate: the tests hold it equal to the compiled engine's counters for every
/// shipped manifest, strategy and workload, and the advisor checks it again on the layout it compiles for its proposal.
/// </summary>
public sealed class CountModel
{
    private readonly Classification _c;
    private readonly NestedVmxOptions _options;
    private readonly uint[] _groupBit;
    private readonly int _everyExit, _rare, _readWrite, _readOnly, _legacy;
    private readonly (uint Group, int Writes)[] _entryControls;
    private readonly int _everyEntryWrites, _everyEntryMajor;
    private readonly int[] _everyEntryShadowed;
    private readonly Dictionary<uint, (int Writes, int Major, int[] Shadowed)> _groups = new();
    private readonly uint _linkGroup;
    private readonly bool _linkEveryEntry;

    public CountModel(Classification classification, NestedVmxOptions options)
    {
        _c = classification;
        _options = options;
        var fields = classification.Fields;
        var groupNames = fields.Where(f => FieldRules.HasDirtyGroup(f.Class)).Select(f => f.Group ?? string.Empty).Distinct().OrderBy(g => g,
            StringComparer.Ordinal).ToList();
        _groupBit = fields.Select(f => FieldRules.HasDirtyGroup(f.Class) ? 1u << groupNames.IndexOf(f.Group ?? string.Empty) : 0u).ToArray();
        var sets = fields.Select(f => FieldRules.CopySetsOf(f.Encoding, f.Class)).ToArray();
        _everyExit = sets.Count(s => (s & FieldRules.CopySets.EveryExitSync) != 0);
        _rare = sets.Count(s => (s & FieldRules.CopySets.RareSync) != 0);
        _readWrite = sets.Count(s => (s & FieldRules.CopySets.ShadowReadWrite) != 0);
        _readOnly = sets.Count(s => (s & FieldRules.CopySets.ShadowReadOnly) != 0);
        _legacy = NestedTraffic.LegacyEntryWriteEncodings.Count(e => classification.IndexOf(e) >= 0);
        _entryControls = Enumerable.Range(0, fields.Length)
            .Where(i => VmcsEncoding.IsMajorControl(fields[i].Encoding) && (sets[i] & FieldRules.CopySets.EntryWhenDirty) != 0 && !fields[i].ControlShadow)
            .Select(i => (_groupBit[i], fields[i].Width == FieldWidth.Bits64 ? 2 : 1))
            .ToArray();
        var everyEntry = Enumerable.Range(0, fields.Length).Where(i => (sets[i] & FieldRules.CopySets.EntryEveryTime) != 0).ToList();
        _everyEntryWrites = everyEntry.Count(i => !fields[i].ControlShadow);
        _everyEntryMajor = everyEntry.Count(i => !fields[i].ControlShadow && VmcsEncoding.IsMajorControl(fields[i].Encoding));
        _everyEntryShadowed = everyEntry.Where(i => fields[i].ControlShadow).ToArray();
        foreach (var group in Enumerable.Range(0, fields.Length).Where(i => (sets[i] & FieldRules.CopySets.EntryWhenDirty) != 0).GroupBy(i => _groupBit[i]))
        {
            _groups[group.Key] = (
                group.Count(i => !fields[i].ControlShadow),
                group.Count(i => !fields[i].ControlShadow && VmcsEncoding.IsMajorControl(fields[i].Encoding)),
                group.Where(i => fields[i].ControlShadow).ToArray());
        }

        var link = classification.IndexOf(VmcsEncoding.VmcsLinkPointer);
        _linkGroup = link >= 0 ? _groupBit[link] : 0;
        _linkEveryEntry = link >= 0 && (sets[link] & FieldRules.CopySets.EntryEveryTime) != 0;
    }

    public Classification Classification => _c;

    /// <summary>The counters NestedVmx would report for the profile's measured round trips.</summary>
    public NestedCounters Count(WorkloadProfile profile)
    {
        var total = default(NestedCounters);
        foreach (var pattern in profile.Patterns)
        {
            total += Round(pattern) * pattern.Count;
        }

        return total;
    }

    private NestedCounters Round(RoundPattern pattern)
    {
        var o = _options;
        var shadow = o.UseShadowVmcs;
        var c = default(NestedCounters);
        var fields = _c.Fields;

        // L2Exit: every-exit sync from vmcs02, vmcs01 current again, L1's host state loaded, the shadow refreshed.
        c.NestedExits++;
        c.VmReads += _everyExit;
        var rareStale = _rare > 0;
        Switch(ref c);
        c.VmPtrLds++;
        if (o.LoadHostStateIntoVmcs01)
        {
            c.VmWrites += NestedTraffic.HostStateLoadWrites;
        }

        if (shadow)
        {
            ShadowTrip(ref c, _readWrite + _readOnly, write: true);
            c.ShadowSyncs++;
        }

        void EnsureRare(ref NestedCounters c)
        {
            if (rareStale)
            {
                c.VmPtrLds += 2;
                c.VmReads += _rare;
                c.RareSyncs++;
                rareStale = false;
            }
        }

        foreach (var i in pattern.Reads)
        {
            if (shadow && i >= 0 && fields[i].IsShadowed)
            {
                c.ShadowedVmreads++;
                continue;
            }

            c.ExitsVmread++;
            if (i >= 0 && fields[i].Class == FieldClass.RareSync)
            {
                EnsureRare(ref c);
            }
        }

        uint dirty = 0;
        foreach (var i in pattern.Writes)
        {
            if (shadow && i >= 0 && fields[i].Class == FieldClass.ShadowRw)
            {
                c.ShadowedVmwrites++;
                continue;
            }

            c.ExitsVmwrite++;
            if (i < 0 || !FieldRules.L1MayWrite(fields[i].Type, _c.VmwriteAny))
            {
                continue; // VMfailValid: nothing moves
            }

            EnsureRare(ref c);
            if (shadow && fields[i].Class == FieldClass.ShadowRo)
            {
                c.VmPtrLds += 2;
                c.VmClears++;
                c.VmWrites++;
            }

            dirty |= _groupBit[i];
        }

        // Before December 2017 (74a497fae754) KVM kept no dirty state: vmcs02 is prepared in full on every entry.
        if (o.PrepareFullVmcs02EveryEntry)
        {
            dirty = uint.MaxValue;
        }

        // VMRESUME: the shadow flushed into vmcs12, vmcs02 prepared from it, the entry.
        c.ExitsVmresume++;
        if (shadow)
        {
            ShadowTrip(ref c, _readWrite, write: false);
        }

        Switch(ref c);
        c.VmPtrLds++;
        var majorWrites = _everyEntryMajor;
        c.VmWrites += _everyEntryWrites;
        Shadowed(ref c, _everyEntryShadowed, pattern.ChangedControls, ref majorWrites);
        foreach (var (bit, group) in _groups)
        {
            if ((dirty & bit) != 0)
            {
                c.VmWrites += group.Writes;
                majorWrites += group.Major;
                Shadowed(ref c, group.Shadowed, pattern.ChangedControls, ref majorWrites);
            }
        }

        if (o.Pre2019VmcsTraffic)
        {
            c.VmWrites += _legacy;
        }

        if ((_linkGroup & dirty) != 0 || _linkEveryEntry)
        {
            c.VmWrites++;
        }

        if (o.RewriteControlsEveryEntry)
        {
            // Controls of a dirty group were written by the preparation above: once per entry.
            var rewritten = _entryControls.Where(e => (e.Group & dirty) == 0).Sum(e => e.Writes);
            c.VmWrites += rewritten;
            majorWrites += rewritten;
        }

        c.ControlVmWrites += majorWrites;
        if (majorWrites > 0)
        {
            c.FullConsistencyChecks++;
        }

        c.NestedEntries++;
        return c;
    }

    private void Shadowed(ref NestedCounters c, int[] shadowed, int[] changed, ref int majorWrites)
    {
        foreach (var i in shadowed)
        {
            if (Array.IndexOf(changed, i) >= 0)
            {
                c.VmWrites++;
                if (VmcsEncoding.IsMajorControl(_c.Fields[i].Encoding))
                {
                    majorWrites++;
                }
            }
        }
    }

    /// <summary>VMPTRLD shadow, the copy loop, VMCLEAR shadow, VMPTRLD vmcs01.</summary>
    private void ShadowTrip(ref NestedCounters c, int fields, bool write)
    {
        c.VmPtrLds += 2;
        c.VmClears++;
        if (write)
        {
            c.VmWrites += fields;
        }
        else
        {
            c.VmReads += fields;
        }

        if (_options.RuntimeOffsetLookup)
        {
            c.RuntimeLookups += _options.ShadowCopyWidthSwitch ? 2 * fields : fields;
        }
    }

    private void Switch(ref NestedCounters c)
    {
        if (_options.PutVcpuOnVmcsSwitch)
        {
            c.VcpuStateSwitches++;
        }
    }
}
