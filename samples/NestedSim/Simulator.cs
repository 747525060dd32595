using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>One L1 action of a round, resolved from the workload: the field's encoding and how to compute the value.</summary>
public readonly record struct L1Action(StepKind Kind, uint Encoding, ValueSpec Value, ulong Random);

/// <summary>One nested round trip: the exit reason, what the CPU writes into vmcs02, L1's handler, and L1's userspace trips.</summary>
public sealed record Round(int Exit, FieldWrite[] Hardware, L1Action[] Handler, string[]? Events = null);

/// <summary>
/// The result of one strategy on one workload: the counted work of all measured rounds, the workload's events, the
/// modelled cycles split into fixed and counted parts, and every L1 access the layout failed (VMfail), by field.
/// </summary>
public sealed record StrategyResult(
    Strategy Strategy, NestedCounters Total, long Rounds, CostBreakdown Cost, IReadOnlyDictionary<string, long> Events,
    IReadOnlyDictionary<string, long> FailedAccesses, int PerIteration = 1)
{
    public double Cycles => Cost.Total;

    public double PerRound(long count) => Rounds == 0 ? 0 : (double)count / Rounds;

    public double PerRound(double value) => Rounds == 0 ? 0 : value / Rounds;

    public double CyclesPerRound => PerRound(Cost.Total);

    /// <summary>Modelled cycles per iteration of the workload's test: <see cref="Workload.PerIteration"/> round trips.</summary>
    public double CyclesPerIteration => CyclesPerRound * PerIteration;

    /// <summary>Whether L1 ran the workload as written: no access of its handlers failed on this layout.</summary>
    public bool Faithful => FailedAccesses.Count == 0;

    /// <summary>A result for a workload that never exits to L1 (per-iteration 0): nothing to count.</summary>
    public static StrategyResult NoExits(Strategy strategy) =>
        new(strategy, default, 0, new CostBreakdown(0, 0, new Dictionary<string, double>()), new Dictionary<string, long>(), new Dictionary<string, long>(), 0);
}

/// <summary>
/// Replays a workload through nested engines. The trace (which exit, which optional lines fire, random values) is drawn
/// once from a seeded RNG and replayed identically on every strategy, so the strategies see the same events.
/// </summary>
public static class Simulator
{
    public const ulong Vmcs12Address = 0x20000;
    public const int WarmupRounds = 100;

    /// <summary>Field names → encodings, from every compiled layout (encodings are the SDM's, the same in every layout).</summary>
    public static IReadOnlyDictionary<string, uint> FieldNames(IEnumerable<LayoutHandle> layouts)
    {
        var names = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (var field in layouts.SelectMany(l => l.Fields))
        {
            names.TryAdd(field.Name, field.Encoding);
            if (field.Width == FieldWidth.Bits64)
            {
                names.TryAdd(field.Name + "_HIGH", field.Encoding | 1);
            }
        }

        return names;
    }

    /// <summary>
    /// Checks every field name of the workload (an unknown one is a format error at its line and column) and that
    /// <c>hw</c> lines name only what a CPU writes on a VM exit: exit-information and guest-state fields (SDM 27.2, 27.3).
    /// </summary>
    public static void Validate(Workload workload, IReadOnlyDictionary<string, uint> names)
    {
        foreach (var step in workload.Setup.Concat(workload.Exits.SelectMany(e => e.Steps)))
        {
            if (step.Kind == StepKind.Event)
            {
                continue;
            }

            var column = Math.Max(step.Column, 1);
            if (!names.TryGetValue(step.Field, out var encoding))
            {
                throw new WorkloadFormatException(workload.PathOf(step), step.Line, column, $"unknown field '{CostModel.Truncate(step.Field)}' (no compiled " +
                    "manifest has it)");
            }

            if (step.Kind == StepKind.Hardware && VmcsEncoding.Type(encoding) is not (FieldType.ExitInformation or FieldType.GuestState))
            {
                throw new WorkloadFormatException(workload.PathOf(step), step.Line, column,
                    $"the CPU does not write {step.Field} on a VM exit ({VmcsEncoding.Type(encoding)} field); an hw line names exit-information or " +
                        "guest-state fields");
            }
        }
    }

    public static Round[] Trace(Workload workload, IReadOnlyDictionary<string, uint> names, int rounds, int seed)
    {
        var random = new Random(seed);
        var totalWeight = workload.Exits.Sum(e => e.Weight);
        var trace = new Round[rounds];
        for (var r = 0; r < rounds; r++)
        {
            var pick = random.Next(totalWeight);
            var exit = 0;
            while (pick >= workload.Exits[exit].Weight)
            {
                pick -= workload.Exits[exit].Weight;
                exit++;
            }

            var hardware = new List<FieldWrite>();
            var handler = new List<L1Action>();
            var events = new List<string>();
            foreach (var step in workload.Exits[exit].Steps)
            {
                if (step.Probability < 1 && random.NextDouble() >= step.Probability)
                {
                    continue;
                }

                if (step.Kind == StepKind.Event)
                {
                    events.Add(step.Field);
                    continue;
                }

                var value = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63);
                if (step.Kind == StepKind.Hardware)
                {
                    hardware.Add(new FieldWrite(names[step.Field], step.Value.Kind == ValueKind.Random ? value : step.Value.Operand));
                }
                else
                {
                    handler.Add(new L1Action(step.Kind, names[step.Field], step.Value, value));
                }
            }

            trace[r] = new Round(exit, hardware.ToArray(), handler.ToArray(), events.Count == 0 ? null : events.ToArray());
        }

        return trace;
    }

    /// <summary>
    /// Runs the trace on one strategy: L1 loads and sets up its vmcs12 and launches L2; <see cref="WarmupRounds"/> rounds
    /// bring the engine to a steady state; then every round trip of the trace is counted.
    /// </summary>
    /// <param name="wrap">Wraps the engine before L1 uses it (e.g. in a <see cref="NestedTraceRecorder"/>); counters still come from the engine.</param>
    /// <param name="warmup">Warm-up round trips before the measured ones (default <see cref="WarmupRounds"/>).</param>
    public static StrategyResult Run(
        Strategy strategy, Workload workload, IReadOnlyDictionary<string, uint> names, Round[] trace, CostModel costs, Action<int>? progress = null,
        Func<INestedEngine, INestedEngine>? wrap = null, int warmup = WarmupRounds)
    {
        if (workload.PerIteration == 0 || trace.Length == 0)
        {
            return StrategyResult.NoExits(strategy);
        }

        var fieldNames = names.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);
        var failed = new Dictionary<string, long>(StringComparer.Ordinal);
        void Failed(uint encoding)
        {
            var name = fieldNames.GetValueOrDefault(encoding) ?? $"0x{encoding:X4}";
            failed[name] = failed.GetValueOrDefault(name) + 1;
        }

        var counted = strategy.Layout.CreateEngine(strategy.Options);
        var engine = wrap?.Invoke(counted) ?? counted;
        var known = new Dictionary<uint, ulong>();
        engine.Memory.CreateRegion(Vmcs12Address, strategy.Layout.Revision);
        Expect(engine.L1VmPtrLd(Vmcs12Address), "VMPTRLD", strategy);
        foreach (var step in workload.Setup)
        {
            var encoding = names[step.Field];
            var value = Resolve(step.Value, known, encoding, 0);
            if (engine.L1VmWrite(encoding, value).IsSuccess)
            {
                known[encoding] = value;
            }
            else
            {
                Failed(encoding);
            }
        }

        Expect(engine.L1VmLaunch(), "VMLAUNCH", strategy);
        for (var i = 0; i < Math.Min(warmup, trace.Length); i++)
        {
            Play(engine, trace[i], known, Failed);
        }

        var before = LayoutHandle.CountersOf(counted);
        var events = WorkloadParser.Events.ToDictionary(e => e, _ => 0L, StringComparer.Ordinal);

        for (var i = 0; i < trace.Length; i++)
        {
            Play(engine, trace[i], known, Failed);
            foreach (var e in trace[i].Events ?? [])
            {
                events[e]++;
            }
            if ((i & 1023) == 1023)
            {
                progress?.Invoke(1024);
            }
        }

        progress?.Invoke(trace.Length & 1023);
        var total = LayoutHandle.CountersOf(counted) - before;
        return new StrategyResult(strategy, total, trace.Length, costs.Of(total, events), events, failed, workload.PerIteration);
    }

    private static void Play(INestedEngine engine, Round round, Dictionary<uint, ulong> known, Action<uint>? failed)
    {
        engine.L2Exit(round.Hardware);
        foreach (var action in round.Handler)
        {
            if (action.Kind == StepKind.Read)
            {
                if (engine.L1VmRead(action.Encoding, out var value).IsSuccess)
                {
                    known[action.Encoding] = value;
                }
                else
                {
                    failed?.Invoke(action.Encoding);
                }
            }
            else
            {
                var value = Resolve(action.Value, known, action.Encoding, action.Random);
                if (engine.L1VmWrite(action.Encoding, value).IsSuccess)
                {
                    known[action.Encoding] = value;
                }
                else
                {
                    failed?.Invoke(action.Encoding);
                }
            }
        }

        engine.L1VmResume();
    }

    /// <summary>The value a workload line writes, from L1's last known value of the field and the round's random draw.</summary>
    internal static ulong Resolve(ValueSpec spec, Dictionary<uint, ulong> known, uint encoding, ulong random) =>
        spec.Apply(known.GetValueOrDefault(encoding), random);

    private static void Expect(VmxResult result, string what, Strategy strategy)
    {
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"{strategy.Name}: L1's {what} failed with {result}");
        }
    }
}
