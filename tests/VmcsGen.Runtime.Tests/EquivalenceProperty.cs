using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using CsCheck;
using VmcsGen.Nested;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The central correctness property: for any sequence of L1 and L2 events, NestedVmx (generated code, lazy syncs, dirty
/// groups, shadow VMCS) and ReferenceNestedVmx (no optimisation) give L1 the same values and VMX outcomes, and the same
/// vmcs12 bytes after ExportNestedState. CsCheck generates the sequences and shrinks a failure to a minimal one.
/// NestedEquivalenceTests runs it on the shipped engine, PlantedBugTests on engines built with a planted bug
/// (<c>underTest</c>: a factory for the engine under test; null: the shipped one).
/// </summary>
internal static class EquivalenceProperty
{

    public const int Sequences = 10_000;
    public const ulong RegionA = 0x20000, RegionB = 0x21000, WrongRevision = 0x22000, Missing = 0x30000, Misaligned = 0x20010, Vmxon = 0x1000;
    private const ulong SaveAll = (1ul << 2) | (1ul << 18) | (1ul << 20) | (1ul << 22) | (1ul << 30);
    private static readonly ulong[] Addresses = [RegionA, RegionA, RegionB, RegionB, WrongRevision, Missing, Misaligned, Vmxon];
    // Bits 63:15 set: the CPU exits even for a shadowed field and L0 fails it with 12 (SDM VMREAD/VMWRITE pseudocode;
    // KVM's get_vmcs12_field_offset returns -ENOENT for field >> 15).
    private static readonly ulong[] BadEncodings = [0x0030, 0x1000, 0x8000, 0x681F, 0x0801, 0x1_681E, 0x1_0000_681E, 0xFFFF_FFFF_0000_4400];

    public abstract record Event;
    public sealed record Read(ulong Encoding) : Event { public override string ToString() => $"VMREAD 0x{Encoding:X4}"; }
    public sealed record Write(ulong Encoding, ulong Value) : Event { public override string ToString() => $"VMWRITE 0x{Encoding:X4} <- 0x{Value:X}"; }
    public sealed record PtrLd(ulong Address) : Event { public override string ToString() => $"VMPTRLD 0x{Address:X}"; }
    public sealed record Clear(ulong Address) : Event { public override string ToString() => $"VMCLEAR 0x{Address:X}"; }
    public sealed record Launch : Event { public override string ToString() => "VMLAUNCH"; }
    public sealed record Resume : Event { public override string ToString() => "VMRESUME"; }
    public sealed record Exit(FieldWrite[] Writes) : Event { public override string ToString() =>
        "L2 exit: " + string.Join(", ", Writes.Select(w => $"0x{w.Encoding:X4}=0x{w.Value:X}")); }
    public sealed record Export : Event { public override string ToString() => "export"; }
    public sealed record PtrSt : Event { public override string ToString() => "VMPTRST"; }
    public sealed record VmxOn(ulong Address) : Event { public override string ToString() => $"VMXON 0x{Address:X}"; }
    public sealed record VmxOff : Event { public override string ToString() => "VMXOFF"; }
    public sealed record WriteThrough(uint Encoding, ulong Value) : Event { public override string ToString() =>
        $"L2 WRMSR written through: 0x{Encoding:X4} <- 0x{Value:X}"; }
    public sealed record Reimport : Event { public override string ToString() => "KVM_SET_NESTED_STATE of the last export (or of a fresh one)"; }

    public sealed record Scenario(ulong Features, bool VmwriteAny, Event[] Events)
    {
        public override string ToString() => $"features 0x{Features:X}, L1 VMWRITE-any {VmwriteAny}\n  " + string.Join("\n  ",
            Events.Select(e => e.ToString()));
    }

    /// <summary>What the sequences exercised, summed over a run, so a test that passes is known to have tested something.</summary>
    public sealed class Coverage
    {
        public long Sequences, Entries, Exits, RareSyncs, ShadowedAccesses, TrappedAccesses, Releases;

        public void Add(NestedCounters c)
        {
            Interlocked.Increment(ref Sequences);
            Interlocked.Add(ref Entries, c.NestedEntries);
            Interlocked.Add(ref Exits, c.NestedExits);
            Interlocked.Add(ref RareSyncs, c.RareSyncs);
            Interlocked.Add(ref ShadowedAccesses, c.ShadowedVmreads + c.ShadowedVmwrites);
            Interlocked.Add(ref TrappedAccesses, c.ExitsVmread + c.ExitsVmwrite);
            Interlocked.Add(ref Releases, c.ExitsVmclear + c.ExitsVmptrld);
        }

        public override string ToString() =>
            $"{Sequences} sequences: {Entries} nested entries, {Exits} L2 exits, {RareSyncs} lazy rare syncs, {ShadowedAccesses} shadowed and " +
                $"{TrappedAccesses} trapped L1 accesses, {Releases} VMPTRLD/VMCLEAR";
    }

    /// <summary>Runs the property; returns null when it holds, else CsCheck's report with the shrunk sequence.</summary>
    public static string? Check<TLayout, TControls>(
        NestedVmxOptions options, int iterations, bool vmwriteAnyVaries, Coverage? coverage = null, Func<NestedVmxOptions, INestedEngine>? underTest = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        try
        {
            Scenarios<TLayout, TControls>(vmwriteAnyVaries).Sample(
                scenario => Divergence<TLayout, TControls>(options, scenario, coverage, underTest) is null,
                iter: iterations,
                print: s => Minimize<TLayout, TControls>(options, s, underTest) is var m
                    ? m + "\n  diverged at: " + Divergence<TLayout, TControls>(options, m, underTest: underTest)
                    : string.Empty);
            return null;
        }
        catch (CsCheckException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// CsCheck shrinks by size; this finishes the job by deleting events one at a time while the divergence remains
    /// (and dropping field writes of L2 exits), so the printed sequence has nothing left to remove.
    /// </summary>
    private static Scenario Minimize<TLayout, TControls>(NestedVmxOptions options, Scenario scenario, Func<NestedVmxOptions, INestedEngine>? underTest)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        bool Fails(Scenario s) => Divergence<TLayout, TControls>(options, s, underTest: underTest) is not null;
        var current = scenario;
        for (var changed = true; changed;)
        {
            changed = false;
            for (var i = current.Events.Length - 1; i >= 0; i--)
            {
                var without = current with { Events = current.Events.Where((_, k) => k != i).ToArray() };
                if (Fails(without))
                {
                    current = without;
                    changed = true;
                    continue;
                }

                if (current.Events[i] is Exit { Writes.Length: > 0 } exit)
                {
                    for (var w = exit.Writes.Length - 1; w >= 0; w--)
                    {
                        var fewer = current.Events.ToArray();
                        fewer[i] = new Exit(((Exit)fewer[i]).Writes.Where((_, k) => k != w).ToArray());
                        if (w < ((Exit)current.Events[i]).Writes.Length && Fails(current with { Events = fewer }))
                        {
                            current = current with { Events = fewer };
                            changed = true;
                        }
                    }
                }
            }
        }

        return current;
    }

    private static Gen<Scenario> Scenarios<TLayout, TControls>(bool vmwriteAnyVaries)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var fields = TLayout.Fields.ToArray();
        var encodings = fields.SelectMany(f => f.Width == FieldWidth.Bits64 ? new ulong[] { f.Encoding, f.Encoding | 1 }
            : new ulong[] { f.Encoding }).ToArray();
        var rareOrGuest = fields.Where(f => f.Class is FieldClass.RareSync || f.Type == FieldType.GuestState).Select(f => (ulong)f.Encoding).ToArray();
        // The CPU's side comes from the SDM (CpuExitWrites) and the engine's declared L0 policy (L0KeptFields), never from
        // the manifest's classes: an exit may write any field of the layout an exit saves, L0 writes through the fields it
        // keeps current. Whether vmcs12's VM-exit controls ask for a conditional field is decided when the event replays.
        var writeThrough = fields.Where(f => CpuSide.L0WritesThrough(f, ulong.MaxValue)).ToArray();
        var l2Writable = fields.Where(f => CpuSide.CpuMayWriteOnExit(f, ulong.MaxValue)).ToArray();
        var value = Gen.OneOf(Gen.ULong, Gen.Const(0UL), Gen.ULong[0, 0xFFFF], Gen.Const(ulong.MaxValue));
        var shadowed = TLayout.ReadWriteEncodings.ToArray().Concat(TLayout.ReadOnlyEncodings.ToArray()).Select(e => (ulong)e).ToArray();
        var encoding = Gen.Frequency(
            (6, Gen.OneOfConst(encodings)), (4, Gen.OneOfConst(shadowed)), (2, Gen.OneOfConst(rareOrGuest)), (1, Gen.OneOfConst(BadEncodings)));
        var address = Gen.OneOfConst(Addresses);

        // A shadow-rw access-rights field (kvm-2018's CS/SS, warning VMCS0115) lets L1 store bits L0 would mask: a known,
        // documented divergence (see ShadowRwArBytesAreTheOneKnownDivergence), so only values the mask keeps are drawn there.
        var shadowRwArBytes = fields.Where(f => f.Class == FieldClass.ShadowRw && f.Encoding is >= 0x4814 and <= 0x4822).Select(f =>
            (ulong)f.Encoding).ToHashSet();

        // Half the VM-exit controls L1 writes ask for every save the SDM gates (bits 2, 18, 20, 22, 30).
        var exitControls = Gen.Frequency((1, Gen.ULong), (1, Gen.ULong.Select(v => v | SaveAll)));

        Gen<Event> Exits(ulong features) =>
            Gen.Select(Gen.OneOfConst(l2Writable.Where(f => f.FeatureMask == 0 || (features & f.FeatureMask) != 0).ToArray()), value)
                .Select(t => new FieldWrite(t.Item1.Encoding, t.Item2)).Array[0, 6].Select(w => (Event)new Exit(w));

        // A layout with no field L0 keeps current (minimal.vmcs) gets more exits instead.
        Gen<Event> Throughs(ulong features) =>
            writeThrough.Where(x => x.FeatureMask == 0 || (features & x.FeatureMask) != 0).ToArray() is { Length: > 0 } present
                ? Gen.Select(Gen.OneOfConst(present), value).Select(t => (Event)new WriteThrough(t.Item1.Encoding, t.Item2))
                : Exits(features);

        var features = Gen.ULong[0, TLayout.AllFeatures].Select(f => Gen.Frequency((3, Gen.Const(TLayout.AllFeatures)),
            (1, Gen.Const(f & TLayout.AllFeatures)))).SelectMany(g => g);
        var vmwriteAny = vmwriteAnyVaries ? Gen.Bool : Gen.Const(TLayout.VmwriteAny);
        // Most scenarios start the way a hypervisor does (VMPTRLD, VMLAUNCH), so the random part runs mostly around L2.
        var prologue = Gen.Frequency(
            (4, Gen.Const(new Event[] { new PtrLd(RegionA), new Launch() })),
            (1, Gen.Const(new Event[] { new PtrLd(RegionA) })),
            (1, Gen.Const(Array.Empty<Event>())));
        return Gen.Select(features, vmwriteAny, prologue).SelectMany((f, any, start) =>
            Gen.Frequency(
                    (1, exitControls.Select(v => (Event)new Write(CpuExitWrites.VmExitControls, v))),
                    (6, encoding.Select(e => (Event)new Read(e))),
                    (6, Gen.Select(encoding, value).Select(t => (Event)new Write(t.Item1, shadowRwArBytes.Contains(t.Item1) ? t.Item2 & 0x1F0FF : t.Item2))),
                    (2, address.Select(a => (Event)new PtrLd(a))),
                    (1, address.Select(a => (Event)new Clear(a))),
                    (1, Gen.Const((Event)new Launch())),
                    (4, Gen.Const((Event)new Resume())),
                    (6, Exits(f)),
                    (1, Gen.Const((Event)new Export())),
                    (1, Gen.Const((Event)new PtrSt())),
                    (1, Gen.OneOfConst(Vmxon, RegionA, Misaligned, Missing).Select(a => (Event)new VmxOn(a))),
                    (1, Gen.Frequency((1, Gen.Const((Event)new VmxOff())), (3, Gen.Const((Event)new Reimport())))),
                    (2, Throughs(f)))
                .Array[1, 50]
                .Select(events => new Scenario(f, any, start.Concat(events).ToArray())));
    }

    /// <summary>Replays the scenario on both engines; null if they agree throughout, else where and how they differ.</summary>
    private static string? Divergence<TLayout, TControls>(
        NestedVmxOptions options, Scenario scenario, Coverage? coverage = null, Func<NestedVmxOptions, INestedEngine>? underTest = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var effective = options with { Features = scenario.Features, L1VmwriteAny = scenario.VmwriteAny };
        var engine = underTest is null ? SoftwareNested.Create<TLayout, TControls>(effective).Engine : underTest(effective);
        var reference = SoftwareNested.CreateReference<TLayout, TControls>(effective);
        foreach (var memory in new[] { engine.Memory, reference.Memory })
        {
            memory.CreateRegion(RegionA, TLayout.Revision);
            memory.CreateRegion(RegionB, TLayout.Revision);
            memory.CreateRegion(WrongRevision, TLayout.Revision ^ 1);
            memory.CreateRegion(Vmxon, TLayout.Revision);
        }

        NestedState? saved = null;
        foreach (var e in scenario.Events)
        {
            if (engine.InL2 != reference.InL2)
            {
                return $"{e}: L2 running {engine.InL2} vs {reference.InL2}";
            }

            var inL2 = engine.InL2;
            var (mine, theirs) = e switch
            {
                Read r when !inL2 => (ReadText(engine.L1VmRead(r.Encoding, out var a), a), ReadText(reference.L1VmRead(r.Encoding, out var b), b)),
                Write w when !inL2 => (engine.L1VmWrite(w.Encoding, w.Value).ToString(), reference.L1VmWrite(w.Encoding, w.Value).ToString()),
                PtrLd p when !inL2 => (engine.L1VmPtrLd(p.Address).ToString(), reference.L1VmPtrLd(p.Address).ToString()),
                Clear c when !inL2 => (engine.L1VmClear(c.Address).ToString(), reference.L1VmClear(c.Address).ToString()),
                Launch when !inL2 => (engine.L1VmLaunch().ToString(), reference.L1VmLaunch().ToString()),
                Resume when !inL2 => (engine.L1VmResume().ToString(), reference.L1VmResume().ToString()),
                Exit x when inL2 => ExitBoth(engine, reference, x.Writes.Where(w => CpuExitWrites.Saves(w.Encoding, ExitControlsOf(reference))).ToArray()),
                Export => (StateDifference(engine.ExportNestedState(), saved = reference.ExportNestedState()), null),
                PtrSt when !inL2 => (ReadText(engine.L1VmPtrSt(out var a), a), ReadText(reference.L1VmPtrSt(out var b), b)),
                VmxOn v when !inL2 => (engine.L1VmxOn(v.Address).ToString(), reference.L1VmxOn(v.Address).ToString()),
                VmxOff when !inL2 => (engine.L1VmxOff().ToString(), reference.L1VmxOff().ToString()),
                WriteThrough t when inL2 && L0KeptFields.TryGet(t.Encoding, out var kept) && CpuExitWrites.Holds(kept.Condition, ExitControlsOf(reference)) =>
                    WriteThroughBoth(engine, reference, t),
                Reimport => ReimportBoth(engine, reference, ref saved),
                _ => (null, null),
            };
            if (mine != theirs)
            {
                return $"{e}: engine {mine}, reference {theirs}";
            }
        }

        var final = StateDifference(engine.ExportNestedState(), reference.ExportNestedState());
        coverage?.Add(((ICountedEngine)engine).Counters);
        return final is null ? null : "final export: " + final;
    }

    /// <summary>vmcs12's VM-exit controls as L1 left them (a layout without the field: every save asked for).</summary>
    private static ulong ExitControlsOf(IVmcs12Peek reference) =>
        reference.TryPeekVmcs12(CpuExitWrites.VmExitControls, out var controls) ? controls : ulong.MaxValue;

    private static string ReadText(VmxResult result, ulong value) => $"{result} 0x{value:X}";

    private static (string?, string?) ExitBoth<TLayout, TControls>(
        INestedEngine engine, ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs> reference, FieldWrite[] writes)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        engine.L2Exit(writes);
        reference.L2Exit(writes);
        return (null, null);
    }

    private static (string?, string?) WriteThroughBoth<TLayout, TControls>(
        INestedEngine engine, ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs> reference, WriteThrough write)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        engine.L2WriteThrough(write.Encoding, write.Value);
        reference.L2WriteThrough(write.Encoding, write.Value);
        return (null, null);
    }

    /// <summary>
    /// Both engines take the state of the last export (a snapshot restored, so vmcs12, vmcs02 and the shadow VMCS all go
    /// back in time), or, without one, a fresh export of the reference (as after a live migration).
    /// </summary>
    private static (string?, string?) ReimportBoth<TLayout, TControls>(
        INestedEngine engine, ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs> reference, ref NestedState? saved)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var state = saved ?? reference.ExportNestedState();
        saved = null;
        engine.ImportNestedState(state);
        reference.ImportNestedState(state);
        return (null, null);
    }

    private static string? StateDifference(NestedState a, NestedState b)
    {
        if (a.CurrentVmcs12 != b.CurrentVmcs12 || a.InL2 != b.InL2 || a.VmxonPointer != b.VmxonPointer)
        {
            return $"current 0x{a.CurrentVmcs12:X} vs 0x{b.CurrentVmcs12:X}, L2 {a.InL2} vs {b.InL2}, VMXON 0x{a.VmxonPointer:X} vs 0x{b.VmxonPointer:X}";
        }

        if (FirstDifference(a.Vmcs12, b.Vmcs12) is { } offset)
        {
            return $"vmcs12 byte {offset} differs";
        }

        foreach (var (address, bytes) in a.L1Regions)
        {
            if (!b.L1Regions.TryGetValue(address, out var other) || FirstDifference(bytes, other) is { } at)
            {
                return $"L1 region 0x{address:X} differs";
            }
        }

        return a.L1Regions.Count == b.L1Regions.Count ? null : "L1 region sets differ";
    }

    private static int? FirstDifference(byte[]? a, byte[]? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null ? null : 0;
        }

        var length = a.AsSpan().CommonPrefixLength(b);
        return length == a.Length && a.Length == b.Length ? null : length;
    }
}