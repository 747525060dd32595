using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>One L1 action of a round, resolved from the workload: the field's encoding and how to compute the value.</summary>
public readonly record struct L1Action(StepKind Kind, uint Encoding, ValueSpec Value, ulong Random);

/// <summary>One nested round trip: the exit reason, what the CPU writes into vmcs02, and L1's handler.</summary>
public sealed record Round(int Exit, FieldWrite[] Hardware, L1Action[] Handler);

/// <summary>The per-round-trip result of one strategy on one workload.</summary>
public sealed record StrategyResult(Strategy Strategy, NestedCounters Total, long Rounds, double Cycles)
{
    public double PerRound(long count) => (double)count / Rounds;

    public double CyclesPerRound => Cycles / Rounds;
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

    /// <summary>Checks every field name of the workload; an unknown one is a format error at its line.</summary>
    public static void Validate(Workload workload, IReadOnlyDictionary<string, uint> names)
    {
        foreach (var step in workload.Setup.Concat(workload.Exits.SelectMany(e => e.Steps)))
        {
            if (!names.ContainsKey(step.Field))
            {
                throw new WorkloadFormatException(workload.Path, step.Line, 1, $"unknown field '{step.Field}' (no compiled manifest has it)");
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
            foreach (var step in workload.Exits[exit].Steps)
            {
                if (step.Probability < 1 && random.NextDouble() >= step.Probability)
                {
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

            trace[r] = new Round(exit, hardware.ToArray(), handler.ToArray());
        }

        return trace;
    }

    /// <summary>
    /// Runs the trace on one strategy: L1 loads and sets up its vmcs12 and launches L2; <see cref="WarmupRounds"/> rounds
    /// bring the engine to a steady state; then every round trip of the trace is counted.
    /// </summary>
    public static StrategyResult Run(Strategy strategy, Workload workload, IReadOnlyDictionary<string, uint> names, Round[] trace, CostModel costs, Action<int>? progress = null)
    {
        var engine = strategy.Layout.CreateEngine(strategy.Options);
        var known = new Dictionary<uint, ulong>();
        engine.Memory.CreateRegion(Vmcs12Address, strategy.Layout.Revision);
        Expect(engine.L1VmPtrLd(Vmcs12Address), "VMPTRLD", strategy);
        foreach (var step in workload.Setup)
        {
            var encoding = names[step.Field];
            var value = Resolve(step.Value, known, encoding, 0);
            engine.L1VmWrite(encoding, value);
            known[encoding] = value;
        }

        Expect(engine.L1VmLaunch(), "VMLAUNCH", strategy);
        for (var i = 0; i < Math.Min(WarmupRounds, trace.Length); i++)
        {
            Play(engine, trace[i], known);
        }

        var before = LayoutHandle.CountersOf(engine);
        for (var i = 0; i < trace.Length; i++)
        {
            Play(engine, trace[i], known);
            if ((i & 1023) == 1023)
            {
                progress?.Invoke(1024);
            }
        }

        progress?.Invoke(trace.Length & 1023);
        var total = LayoutHandle.CountersOf(engine) - before;
        return new StrategyResult(strategy, total, trace.Length, costs.Of(total));
    }

    private static void Play(INestedEngine engine, Round round, Dictionary<uint, ulong> known)
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
            }
            else
            {
                var value = Resolve(action.Value, known, action.Encoding, action.Random);
                if (engine.L1VmWrite(action.Encoding, value).IsSuccess)
                {
                    known[action.Encoding] = value;
                }
            }
        }

        engine.L1VmResume();
    }

    private static ulong Resolve(ValueSpec spec, Dictionary<uint, ulong> known, uint encoding, ulong random)
    {
        var current = known.GetValueOrDefault(encoding);
        return spec.Kind switch
        {
            ValueKind.Constant => spec.Operand,
            ValueKind.Random => random,
            ValueKind.Add => current + spec.Operand,
            ValueKind.SetBits => current | spec.Operand,
            _ => current & ~spec.Operand,
        };
    }

    private static void Expect(VmxResult result, string what, Strategy strategy)
    {
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"{strategy.Name}: L1's {what} failed with {result}");
        }
    }
}
