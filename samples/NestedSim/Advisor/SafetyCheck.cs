using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>The outcome of a differential run: how much it exercised, and the first divergence (null: none).</summary>
public sealed record SafetyReport(int Sequences, long Events, long L2Exits, long TrappedAccesses, long ShadowedAccesses, long RareSyncs, string? Divergence)
{
    public bool Safe => Divergence is null;
}

/// <summary>
/// The engine-equals-oracle property of the runtime's tests (tests/VmcsGen.Runtime.Tests/EquivalenceProperty.cs),
/// run on any layout the advisor compiled: seeded random sequences of L1 instructions (VMPTRLD, VMCLEAR, VMREAD,
/// VMWRITE, VMLAUNCH, VMRESUME, VMXOFF/VMXON), exports, L2 exits that change guest and exit-information fields and L2
/// WRMSRs written through to guest fields, replayed on NestedVmx (the
/// layout's generated code, lazy syncs, dirty groups, shadow VMCS) and on ReferenceNestedVmx (no optimisation); every
/// outcome, every value L1 reads and the exported vmcs12 must agree. A divergence names the sequence and the event.
/// </summary>
public static class SafetyCheck
{
    private const ulong RegionA = 0x20000, RegionB = 0x21000, Missing = 0x30000, Vmxon = 0x1000;

    /// <param name="focus">
    /// Fields to exercise most (the advisor passes the ones it reclassified): half of each sequence's hot set comes from them.
    /// </param>
    /// <param name="engineUnderTest">Makes the engine to check (default: the layout's NestedVmx); tests plant bugs with it.</param>
    public static SafetyReport Run(
        LayoutHandle layout, int sequences, int seed, IReadOnlyList<uint>? focus = null, Func<NestedVmxOptions, INestedEngine>? engineUnderTest = null)
    {
        var options = new NestedVmxOptions();
        var fields = layout.Fields.ToArray();
        var encodings = fields.Select(f => (ulong)f.Encoding).Concat(new ulong[] { 0x0030, 0x8000, 0x1_681E }).ToArray();
        var shadowed = fields.Where(f => f.Class is FieldClass.ShadowRw or FieldClass.ShadowRo).Select(f => (ulong)f.Encoding).ToArray();
        var rare = fields.Where(f => f.Class == FieldClass.RareSync).Select(f => (ulong)f.Encoding).ToArray();
        // What the CPU writes at an L2 exit comes from the SDM (CpuExitWrites: what an exit saves, filtered at the exit by
        // vmcs12's VM-exit controls), and what L0 writes through from the engine's policy (L0KeptFields), never from the
        // manifest's classes: a no-sync field the CPU changes unseen by L0 leaves vmcs12 stale, which the reference is not.
        var l2Writable = fields.Where(f => CpuSide.CpuMayWriteOnExit(f, ulong.MaxValue)).Select(f => f.Encoding).ToArray();
        var writeThrough = fields.Where(f => CpuSide.L0WritesThrough(f, ulong.MaxValue)).Select(f => f.Encoding).ToArray();
        var random = new Random(seed);
        ulong Value() => random.Next(4) switch
        {
            0 => 0,
            1 => (ulong)random.Next(0x10000),
            2 => ulong.MaxValue,
            _ => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63),
        };
        ulong AnyEncoding() => random.Next(10) switch
        {
            < 6 => encodings[random.Next(encodings.Length)],
            < 8 when shadowed.Length > 0 => shadowed[random.Next(shadowed.Length)],
            _ when rare.Length > 0 => rare[random.Next(rare.Length)],
            _ => encodings[random.Next(encodings.Length)],
        };

        // A stale copy shows when a field is read after it was written or after L2 changed it: each sequence draws 7 in 10
        // of its accesses from a hot set of six fields (half of them from the focus), so such pairs are common.
        var hot = new ulong[6];
        ulong Encoding() => random.Next(10) < 7 ? hot[random.Next(hot.Length)] : AnyEncoding();

        long events = 0, exits = 0, trapped = 0, shadowedAccesses = 0, rareSyncs = 0;
        for (var s = 0; s < sequences; s++)
        {
            var engine = engineUnderTest?.Invoke(options) ?? layout.CreateEngine(options);
            var reference = layout.CreateReference(options);
            foreach (var memory in new[] { engine.Memory, reference.Memory })
            {
                memory.CreateRegion(RegionA, layout.Revision);
                memory.CreateRegion(RegionB, layout.Revision);
                memory.CreateRegion(Vmxon, layout.Revision);
            }

            var log = new List<string>();
            for (var h = 0; h < hot.Length; h++)
            {
                hot[h] = focus is { Count: > 0 } && h % 2 == 0 ? focus[random.Next(focus.Count)] : AnyEncoding();
            }

            string? Differ(string what, object mine, object theirs)
            {
                log.Add(what);
                return Equals(mine, theirs) ? null : $"sequence {s} (seed {seed}), after {string.Join("; ", log)}: engine {mine}, reference {theirs}";
            }

            ulong ExitControls() => ((IVmcs12Peek)reference).TryPeekVmcs12(CpuExitWrites.VmExitControls, out var controls) ? controls : ulong.MaxValue;
            var divergence = Differ("VMPTRLD A", engine.L1VmPtrLd(RegionA), reference.L1VmPtrLd(RegionA));

            // L1 asks for every save the SDM gates by a VM-exit control (bits 2, 18, 20, 22, 30) in most sequences.
            var exitControls = random.Next(4) == 0 ? (ulong)random.Next() : 0x4054_0004ul | (ulong)random.Next();
            divergence ??= Differ($"VMWRITE VM_EXIT_CONTROLS <- 0x{exitControls:X}", engine.L1VmWrite(CpuExitWrites.VmExitControls, exitControls),
                reference.L1VmWrite(CpuExitWrites.VmExitControls, exitControls));
            divergence ??= Differ("VMLAUNCH", engine.L1VmLaunch(), reference.L1VmLaunch());
            var length = 10 + random.Next(40);
            for (var i = 0; i < length && divergence is null; i++)
            {
                events++;
                if (engine.InL2 != reference.InL2)
                {
                    divergence = Differ("state", $"L2 running {engine.InL2}", $"L2 running {reference.InL2}");
                    break;
                }

                if (engine.InL2 && random.Next(4) == 0 && writeThrough.Length > 0)
                {
                    // An L2 WRMSR L1 does not intercept: L0 writes the guest field through to vmcs12 and vmcs02.
                    var (through, throughValue) = (writeThrough[random.Next(writeThrough.Length)], Value());
                    if (!L0KeptFields.TryGet(through, out var kept) || !CpuExitWrites.Holds(kept.Condition, ExitControls()))
                    {
                        continue; // KVM updates vmcs12 only when L1 asked for the save; the CPU would not save it either
                    }

                    engine.L2WriteThrough(through, throughValue);
                    reference.L2WriteThrough(through, throughValue);
                    log.Add($"L2 WRMSR written through: 0x{through:X4} <- 0x{throughValue:X}");
                    continue;
                }

                if (engine.InL2)
                {
                    var saved = ExitControls();
                    var writes = l2Writable.Length == 0 ? [] : Enumerable.Range(0, random.Next(6)).Select(_ =>
                        new FieldWrite(l2Writable[random.Next(l2Writable.Length)], Value()))
                        .Where(w => CpuExitWrites.Saves(w.Encoding, saved)).ToArray();
                    engine.L2Exit(writes);
                    reference.L2Exit(writes);
                    exits++;
                    log.Add("L2 exit: " + string.Join(", ", writes.Select(w => $"0x{w.Encoding:X4}=0x{w.Value:X}")));
                    continue;
                }

                var pick = random.Next(22);
                switch (pick)
                {
                    case < 8:
                        var read = Encoding();
                        var ra = engine.L1VmRead(read, out var va);
                        var rb = reference.L1VmRead(read, out var vb);
                        divergence = Differ($"VMREAD 0x{read:X4}", $"{ra} 0x{va:X}", $"{rb} 0x{vb:X}");
                        break;
                    case < 15:
                        var (field, value) = (Encoding(), Value());
                        divergence = Differ($"VMWRITE 0x{field:X4} <- 0x{value:X}", engine.L1VmWrite(field, value), reference.L1VmWrite(field, value));
                        break;
                    case < 18:
                        divergence = Differ("VMRESUME", engine.L1VmResume(), reference.L1VmResume());
                        break;
                    case 18:
                        var address = random.Next(3) switch { 0 => RegionA, 1 => RegionB, _ => Missing };
                        divergence = Differ($"VMPTRLD 0x{address:X}", engine.L1VmPtrLd(address), reference.L1VmPtrLd(address));
                        break;
                    case 20:
                        divergence = Differ("export", Same(engine.ExportNestedState(), reference.ExportNestedState()), true);
                        break;
                    case 21:
                        divergence = Differ("VMXOFF; VMXON", (engine.L1VmxOff(), engine.L1VmxOn(Vmxon)), (reference.L1VmxOff(), reference.L1VmxOn(Vmxon)));
                        break;
                    default:
                        var cleared = random.Next(2) == 0 ? RegionA : RegionB;
                        divergence = Differ($"VMCLEAR 0x{cleared:X}", engine.L1VmClear(cleared), reference.L1VmClear(cleared));
                        if (divergence is null && random.Next(2) == 0)
                        {
                            divergence = Differ("VMPTRLD A; VMLAUNCH", (engine.L1VmPtrLd(RegionA), engine.L1VmLaunch()),
                                (reference.L1VmPtrLd(RegionA), reference.L1VmLaunch()));
                        }

                        break;
                }
            }

            divergence ??= Differ("final export", Same(engine.ExportNestedState(), reference.ExportNestedState()), true);

            if (engine is ICountedEngine counted)
            {
                var c = counted.Counters;
                trapped += c.ExitsVmread + c.ExitsVmwrite;
                shadowedAccesses += c.ShadowedVmreads + c.ShadowedVmwrites;
                rareSyncs += c.RareSyncs;
            }

            if (divergence is not null)
            {
                return new SafetyReport(s + 1, events, exits, trapped, shadowedAccesses, rareSyncs, divergence);
            }
        }

        return new SafetyReport(sequences, events, exits, trapped, shadowedAccesses, rareSyncs, null);
    }

    /// <summary>Two exported states agree: current pointer, L2 or not, VMXON pointer, vmcs12 bytes and every L1 region.</summary>
    private static bool Same(NestedState mine, NestedState theirs) =>
        mine.CurrentVmcs12 == theirs.CurrentVmcs12 && mine.InL2 == theirs.InL2 && mine.VmxonPointer == theirs.VmxonPointer
        && (mine.Vmcs12 ?? []).AsSpan().SequenceEqual(theirs.Vmcs12 ?? [])
        && mine.L1Regions.Count == theirs.L1Regions.Count
        && mine.L1Regions.All(r => theirs.L1Regions.TryGetValue(r.Key, out var other) && r.Value.AsSpan().SequenceEqual(other));
}
