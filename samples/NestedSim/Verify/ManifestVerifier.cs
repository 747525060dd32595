using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Verify;

/// <summary>Where a sequence first diverged: the event, what differed, and the vmcs12 field involved (when one is).</summary>
public sealed record VerifyDivergence(int EventIndex, string Event, string Difference, string? Field, string? Class);

/// <summary>A minimised failing sequence.</summary>
public sealed record VerifyFailure(int Sequence, IReadOnlyList<string> Events, VerifyDivergence Divergence);

/// <summary>What a verify run did and found.</summary>
public sealed record VerifyReport(int Sequences, long Events, long L2Exits, int Divergences, VerifyFailure? First, IReadOnlyList<string> Excluded)
{
    public bool Clean => Divergences == 0;
}

/// <summary>
/// The differential behind <c>verify</c>: random sequences of L1 instructions, L2 exits and L2 WRMSRs, replayed on a
/// layout's engine (<see cref="NestedVmx{TLayout, TControls, TBackend}"/>: generated copy loops, lazy rare sync, dirty
/// groups, shadow VMCS) and on its reference (<see cref="ReferenceNestedVmx{TLayout, TControls, TBackend}"/>: every exit
/// copies back every guest-state and exit-information field). The CPU's side is the SDM's (<see cref="CpuExitWrites"/>)
/// and the engine's declared L0 policy (<see cref="L0KeptFields"/>), not the manifest's classes: an L2 exit may write any
/// field of the layout an exit saves under vmcs12's VM-exit controls, and L2 changes the fields L0 keeps current only
/// through L0. So a class that drops a field the CPU changes shows as a stale vmcs12, which the reference does not have.
/// Every outcome, every value L1 reads and every exported state must agree; the first divergence is minimised.
/// </summary>
public static class ManifestVerifier
{
    public const int DefaultSequences = 2_000;
    private const ulong RegionA = 0x20000, RegionB = 0x21000, Missing = 0x30000;
    private const ulong SaveAll = (1ul << 2) | (1ul << 18) | (1ul << 20) | (1ul << 22) | (1ul << 30);

    /// <param name="engineUnderTest">Makes the engine to check (default: the layout's own); tests plant engine bugs with it.</param>
    /// <param name="progress">Called with the number of sequences done.</param>
    public static VerifyReport Run(
        LayoutHandle layout, int sequences, int seed, Func<NestedVmxOptions, INestedEngine>? engineUnderTest = null, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var fields = layout.Fields.Where(f => !f.IsHigh).ToArray();
        var excluded = KnownDivergences(fields);
        var shape = new Shape(fields, excluded.Masked);
        long events = 0, exits = 0;
        var divergences = 0;
        VerifyFailure? first = null;
        for (var s = 0; s < sequences; s++)
        {
            var sequence = Generate(shape, new Random(unchecked((seed * 1_000_003) + s)));
            var outcome = Replay(layout, sequence, engineUnderTest);
            events += outcome.Events;
            exits += outcome.Exits;
            if (outcome.Divergence is not null)
            {
                divergences++;
                if (first is null)
                {
                    var minimal = Minimise(layout, sequence, engineUnderTest);
                    var divergence = Replay(layout, minimal, engineUnderTest).Divergence!;
                    first = new VerifyFailure(s, minimal.Select(e => e.ToString()).ToList(), divergence);
                }
            }

            progress?.Invoke(s + 1);
        }

        return new VerifyReport(sequences, events, exits, divergences, first, excluded.Notes);
    }

    /// <summary>
    /// Divergences the generator already warns about and the manifest's author accepted: a <c>shadow-rw</c> segment
    /// access-rights field (VMCS0115) lets L1 store AR bits that L0 would mask, so only values the mask keeps are drawn
    /// for it, as in the runtime's equivalence tests.
    /// </summary>
    private static (HashSet<ulong> Masked, List<string> Notes) KnownDivergences(VmcsFieldDescriptor[] fields)
    {
        var masked = fields.Where(f => f.Class == FieldClass.ShadowRw && VmcsEncoding.IsSegmentAccessRights(f.Encoding)).ToList();
        var notes = masked.Count == 0
            ? new List<string>()
            : ["VMCS0115's known divergence is not drawn: L1 writes only AR-byte values the 0x1F0FF mask keeps to shadow-rw " +
                $"{string.Join(", ", masked.Select(f => f.Name))}"];
        return (masked.Select(f => (ulong)f.Encoding).ToHashSet(), notes);
    }

    /// <summary>The fields a sequence draws from.</summary>
    private sealed class Shape(VmcsFieldDescriptor[] fields, HashSet<ulong> masked)
    {
        public ulong[] Encodings { get; } = fields.SelectMany(f => f.Width == FieldWidth.Bits64 ? new ulong[] { f.Encoding, f.Encoding | 1 }
            : new ulong[] { f.Encoding })
            .Concat(new ulong[] { 0x0030, 0x8000, 0x1_681E }).ToArray();

        /// <summary>What the CPU may write on an exit (filtered again by vmcs12's exit controls at replay).</summary>
        public uint[] CpuWritable { get; } = fields.Where(f => CpuSide.CpuMayWriteOnExit(f, ulong.MaxValue)).Select(f => f.Encoding).ToArray();

        public uint[] WrittenThrough { get; } = fields.Where(f => CpuSide.L0WritesThrough(f, ulong.MaxValue)).Select(f => f.Encoding).ToArray();

        public HashSet<ulong> Masked { get; } = masked;
    }

    private static ulong Value(Random random) => random.Next(4) switch
    {
        0 => 0,
        1 => (ulong)random.Next(0x10000),
        2 => ulong.MaxValue,
        _ => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63),
    };

    private static List<VerifyEvent> Generate(Shape shape, Random random)
    {
        // A hot set of six fields, half of them ones the CPU writes, so a value L2 changed is often read back by L1.
        var hot = Enumerable.Range(0, 6)
            .Select(i => i % 2 == 0 && shape.CpuWritable.Length > 0 ? shape.CpuWritable[random.Next(shape.CpuWritable.Length)]
                : shape.Encodings[random.Next(shape.Encodings.Length)])
            .ToArray();
        ulong Encoding() => random.Next(10) < 6 ? hot[random.Next(hot.Length)] : shape.Encodings[random.Next(shape.Encodings.Length)];
        ulong ExitControls() => random.Next(4) == 0 ? (ulong)random.NextInt64() & 0xFFFF_FFFF : SaveAll | ((ulong)random.NextInt64() & 0xFFFF_FFFF);

        var list = new List<VerifyEvent> { new L1PtrLd(RegionA), new L1Write(CpuExitWrites.VmExitControls, ExitControls()), new L1Launch() };
        var length = 10 + random.Next(40);
        for (var i = 0; i < length; i++)
        {
            // Events that do not fit the state when replayed (an L1 instruction while L2 runs, an exit while L1 runs) are skipped.
            switch (random.Next(20))
            {
                case < 5 when shape.CpuWritable.Length > 0:
                    list.Add(new L2ExitEvent(Enumerable.Range(0, random.Next(1, 7)).Select(_ =>
                        new FieldWrite(shape.CpuWritable[random.Next(shape.CpuWritable.Length)], Value(random))).ToArray()));
                    break;
                case 5 when shape.WrittenThrough.Length > 0:
                    list.Add(new L2WriteThroughEvent(shape.WrittenThrough[random.Next(shape.WrittenThrough.Length)], Value(random)));
                    break;
                case < 10:
                    list.Add(new L1Read(Encoding()));
                    break;
                case < 14:
                    var field = Encoding();
                    var value = Value(random);
                    list.Add(new L1Write(field, shape.Masked.Contains(field) ? value & VmcsEncoding.SegmentAccessRightsMask : value));
                    break;
                case < 16:
                    list.Add(new L1Resume());
                    break;
                case 16:
                    list.Add(new L1PtrLd(random.Next(3) switch { 0 => RegionA, 1 => RegionB, _ => Missing }));
                    break;
                case 17:
                    list.Add(new L1Clear(random.Next(2) == 0 ? RegionA : RegionB));
                    break;
                case 18:
                    list.Add(random.Next(2) == 0 ? new L1Launch() : new L1Write(CpuExitWrites.VmExitControls, ExitControls()));
                    break;
                default:
                    list.Add(new ExportEvent());
                    break;
            }
        }

        return list;
    }

    private sealed record Outcome(long Events, long Exits, VerifyDivergence? Divergence);

    private static Outcome Replay(LayoutHandle layout, IReadOnlyList<VerifyEvent> sequence, Func<NestedVmxOptions, INestedEngine>? engineUnderTest)
    {
        var options = new NestedVmxOptions();
        var engine = engineUnderTest?.Invoke(options) ?? layout.CreateEngine(options);
        var reference = layout.CreateReference(options);
        var peek = (IVmcs12Peek)reference;
        foreach (var memory in new[] { engine.Memory, reference.Memory })
        {
            memory.CreateRegion(RegionA, layout.Revision);
            memory.CreateRegion(RegionB, layout.Revision);
        }

        ulong ExitControls() => peek.TryPeekVmcs12(CpuExitWrites.VmExitControls, out var controls) ? controls : ulong.MaxValue;

        long events = 0, exits = 0;
        for (var i = 0; i < sequence.Count; i++)
        {
            var e = sequence[i];
            if (engine.InL2 != reference.InL2)
            {
                return new Outcome(events, exits, new VerifyDivergence(i, e.ToString()!, $"L2 running: engine {engine.InL2}, reference {reference.InL2}", null,
                    null));
            }

            var inL2 = engine.InL2;
            (string? Mine, string? Theirs, ulong? Field) step = e switch
            {
                L1Read r when !inL2 => (Text(engine.L1VmRead(r.Encoding, out var a), a), Text(reference.L1VmRead(r.Encoding, out var b), b), r.Encoding),
                L1Write w when !inL2 => (engine.L1VmWrite(w.Encoding, w.Value).ToString(), reference.L1VmWrite(w.Encoding, w.Value).ToString(), w.Encoding),
                L1PtrLd p when !inL2 => (engine.L1VmPtrLd(p.Address).ToString(), reference.L1VmPtrLd(p.Address).ToString(), null),
                L1Clear c when !inL2 => (engine.L1VmClear(c.Address).ToString(), reference.L1VmClear(c.Address).ToString(), null),
                L1Launch when !inL2 => (engine.L1VmLaunch().ToString(), reference.L1VmLaunch().ToString(), null),
                L1Resume when !inL2 => (engine.L1VmResume().ToString(), reference.L1VmResume().ToString(), null),
                L2ExitEvent x when inL2 => ExitBoth(engine, reference, x.Writes.Where(w => CpuExitWrites.Saves(w.Encoding, ExitControls())).ToArray()),
                L2WriteThroughEvent t when inL2 && L0KeptFields.TryGet(t.Encoding, out var kept) && CpuExitWrites.Holds(kept.Condition, ExitControls()) =>
                    ThroughBoth(engine, reference, t),
                ExportEvent => Compare(layout, engine.ExportNestedState(), reference.ExportNestedState()),
                _ => (null, null, null),
            };
            if (step is (null, null, null))
            {
                continue;
            }

            events++;
            if (e is L2ExitEvent)
            {
                exits++;
            }

            if (step.Mine != step.Theirs)
            {
                return new Outcome(events, exits, Divergence(layout, i, e.ToString()!, $"engine {step.Mine}, reference {step.Theirs}", step.Field));
            }
        }

        var (mine, theirs, differing) = Compare(layout, engine.ExportNestedState(), reference.ExportNestedState());
        return new Outcome(events, exits, mine == theirs ? null : Divergence(layout, sequence.Count, "final KVM_GET_NESTED_STATE",
            $"engine {mine}, reference {theirs}", differing));
    }

    private static VerifyDivergence Divergence(LayoutHandle layout, int index, string at, string difference, ulong? encoding)
    {
        var field = encoding is { } e ? layout.Fields.FirstOrDefault(f => !f.IsHigh
            && (f.Encoding == e || (f.Width == FieldWidth.Bits64 && f.Encoding == (e & ~1ul)))) : default;
        return field.Name is null
            ? new VerifyDivergence(index, at, difference, null, null)
            : new VerifyDivergence(index, at, difference, field.Name, ClassName(field.Class));
    }

    public static string ClassName(FieldClass c) => c switch
    {
        FieldClass.ShadowRw => "shadow-rw",
        FieldClass.ShadowRo => "shadow-ro",
        FieldClass.RareSync => "rare-sync",
        FieldClass.NoSync => "no-sync",
        _ => "sync",
    };

    private static string Text(VmxResult result, ulong value) => $"{result} 0x{value:X}";

    private static (string?, string?, ulong?) ExitBoth(INestedEngine engine, INestedEngine reference, FieldWrite[] writes)
    {
        engine.L2Exit(writes);
        reference.L2Exit(writes);
        return ("exit", "exit", null);
    }

    private static (string?, string?, ulong?) ThroughBoth(INestedEngine engine, INestedEngine reference, L2WriteThroughEvent t)
    {
        engine.L2WriteThrough(t.Encoding, t.Value);
        reference.L2WriteThrough(t.Encoding, t.Value);
        return ("written through", "written through", null);
    }

    /// <summary>Two exported states: equal, or the first difference with the vmcs12 field whose bytes differ.</summary>
    private static (string?, string?, ulong?) Compare(LayoutHandle layout, NestedState mine, NestedState theirs)
    {
        if (mine.CurrentVmcs12 != theirs.CurrentVmcs12 || mine.InL2 != theirs.InL2 || mine.VmxonPointer != theirs.VmxonPointer)
        {
            return ($"current 0x{mine.CurrentVmcs12:X} in L2 {mine.InL2}", $"current 0x{theirs.CurrentVmcs12:X} in L2 {theirs.InL2}", null);
        }

        var a = mine.Vmcs12 ?? [];
        var b = theirs.Vmcs12 ?? [];
        var at = a.AsSpan().CommonPrefixLength(b);
        if (at < a.Length || a.Length != b.Length)
        {
            var field = layout.Fields.Where(f => !f.IsHigh).FirstOrDefault(f => at >= f.Offset && at < f.Offset + VmcsEncoding.SizeInBytes(f.Width));
            if (field.Name is not null)
            {
                var width = VmcsEncoding.SizeInBytes(field.Width);
                return ($"vmcs12 {field.Name} = 0x{Read(a, field.Offset, width):X}", $"0x{Read(b, field.Offset, width):X}", field.Encoding);
            }

            return ($"vmcs12 byte {at} = 0x{(at < a.Length ? a[at] : 0):X2}", $"0x{(at < b.Length ? b[at] : 0):X2}", null);
        }

        foreach (var (address, bytes) in mine.L1Regions)
        {
            if (!theirs.L1Regions.TryGetValue(address, out var other) || !bytes.AsSpan().SequenceEqual(other))
            {
                return ($"L1 region 0x{address:X} differs", "its own", null);
            }
        }

        return mine.L1Regions.Count == theirs.L1Regions.Count ? ("same", "same", null) : ("other L1 regions", "its own", null);
    }

    private static ulong Read(byte[] bytes, int offset, int width)
    {
        ulong value = 0;
        for (var i = width - 1; i >= 0; i--)
        {
            value = (value << 8) | (offset + i < bytes.Length ? bytes[offset + i] : 0ul);
        }

        return value;
    }

    /// <summary>Deletes events (and CPU writes of exits) one at a time while the sequence still diverges.</summary>
    private static List<VerifyEvent> Minimise(LayoutHandle layout, List<VerifyEvent> sequence, Func<NestedVmxOptions, INestedEngine>? engineUnderTest)
    {
        bool Fails(List<VerifyEvent> s) => Replay(layout, s, engineUnderTest).Divergence is not null;
        var current = sequence;
        for (var changed = true; changed;)
        {
            changed = false;
            for (var i = current.Count - 1; i >= 0; i--)
            {
                if (i >= current.Count)
                {
                    continue;
                }

                var without = current.Where((_, k) => k != i).ToList();
                if (Fails(without))
                {
                    current = without;
                    changed = true;
                    continue;
                }

                if (current[i] is L2ExitEvent { Writes.Length: > 1 } exit)
                {
                    for (var w = exit.Writes.Length - 1; w >= 0; w--)
                    {
                        var writes = ((L2ExitEvent)current[i]).Writes;
                        if (w >= writes.Length || writes.Length == 1)
                        {
                            continue;
                        }

                        var fewer = current.ToList();
                        fewer[i] = new L2ExitEvent(writes.Where((_, k) => k != w).ToArray());
                        if (Fails(fewer))
                        {
                            current = fewer;
                            changed = true;
                        }
                    }
                }
            }
        }

        return current;
    }
}
