using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>A parsed trace as a workload (<c>convert</c>, <c>advise --trace</c>).</summary>
public static partial class TraceFile
{
    /// <summary>Basic exit reasons (SDM Vol. 3 Appendix C; the names of Linux's uapi/asm/vmx.h), for exit block names.</summary>
    private static readonly Dictionary<int, string> ReasonNames = new()
    {
        [0] = "EXCEPTION_NMI", [1] = "EXTERNAL_INTERRUPT", [2] = "TRIPLE_FAULT", [7] = "INTERRUPT_WINDOW", [8] = "NMI_WINDOW",
        [9] = "TASK_SWITCH", [10] = "CPUID", [12] = "HLT", [13] = "INVD", [14] = "INVLPG", [15] = "RDPMC", [16] = "RDTSC",
        [18] = "VMCALL", [28] = "CR_ACCESS", [29] = "DR_ACCESS", [30] = "IO_INSTRUCTION", [31] = "MSR_READ", [32] = "MSR_WRITE",
        [36] = "MWAIT_INSTRUCTION", [39] = "MONITOR_INSTRUCTION", [40] = "PAUSE_INSTRUCTION", [43] = "TPR_BELOW_THRESHOLD",
        [44] = "APIC_ACCESS", [45] = "EOI_INDUCED", [48] = "EPT_VIOLATION", [49] = "EPT_MISCONFIG", [52] = "PREEMPTION_TIMER",
        [54] = "WBINVD", [55] = "XSETBV", [56] = "APIC_WRITE", [62] = "PML_FULL",
    };

    /// <summary>
    /// The trace as a workload: one exit block per distinct shape (exit reason, fields the CPU wrote, L1's accesses in
    /// order), weighted by its count; values constant when every occurrence agrees, <c>+N</c> when each write adds the same N
    /// to the field's previous value, else <c>random</c>.
    /// </summary>
    public static Workload ToWorkload(Trace trace, string name)
    {
        var last = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, List<(TraceRound Round, ulong[] Previous)>>(StringComparer.Ordinal);
        foreach (var step in trace.Setup)
        {
            last[step.Field] = step.Value;
        }

        foreach (var round in trace.Rounds)
        {
            var key = $"{round.Reason}|{string.Join(',', round.Hardware.Select(s => s.Field))}|" +
                $"{string.Join(',', round.Handler.Select(s => $"{s.Kind}:{s.Field}"))}";
            var previous = new ulong[round.Handler.Count];
            foreach (var hw in round.Hardware)
            {
                last[hw.Field] = hw.Value;
            }

            for (var i = 0; i < round.Handler.Count; i++)
            {
                var step = round.Handler[i];
                previous[i] = last.GetValueOrDefault(step.Field);
                if (step.Kind is StepKind.Read or StepKind.Write)
                {
                    last[step.Field] = step.Value;
                }
            }

            if (!shapes.TryGetValue(key, out var list))
            {
                shapes[key] = list = new List<(TraceRound, ulong[])>();
            }

            list.Add((round, previous));
        }

        var exits = new List<ExitSpec>();
        var perReason = new Dictionary<int, int>();
        foreach (var occurrences in shapes.Values.OrderByDescending(o => o.Count).ThenBy(o => o[0].Round.Line))
        {
            var first = occurrences[0].Round;
            var steps = new List<Step>();
            for (var i = 0; i < first.Hardware.Count; i++)
            {
                var values = occurrences.Select(o => o.Round.Hardware[i].Value).Distinct().ToList();
                steps.Add(new Step(StepKind.Hardware, first.Hardware[i].Field, values.Count == 1 ? new ValueSpec(ValueKind.Constant, values[0])
                    : new ValueSpec(ValueKind.Random, 0), 1, first.Hardware[i].Line, first.Hardware[i].Column));
            }

            for (var i = 0; i < first.Handler.Count; i++)
            {
                var step = first.Handler[i];
                var value = new ValueSpec(ValueKind.Add, 0);
                if (step.Kind == StepKind.Write)
                {
                    var values = occurrences.Select(o => o.Round.Handler[i].Value).Distinct().ToList();
                    var increments = occurrences.Select(o => o.Round.Handler[i].Value - o.Previous[i]).Distinct().ToList();
                    value = values.Count == 1 ? new ValueSpec(ValueKind.Constant, values[0])
                        : increments.Count == 1 ? new ValueSpec(ValueKind.Add, increments[0])
                        : new ValueSpec(ValueKind.Random, 0);
                }

                steps.Add(new Step(step.Kind, step.Field, value, 1, step.Line, step.Column));
            }

            var reasonName = first.Reason < 0 ? "EXIT" : ReasonNames.GetValueOrDefault(first.Reason, $"EXIT_{first.Reason}");
            var n = perReason[first.Reason] = perReason.GetValueOrDefault(first.Reason) + 1;
            exits.Add(new ExitSpec(n == 1 ? reasonName : $"{reasonName}_{n}", occurrences.Count, steps, first.Line, trace.Path));
        }

        var setup = trace.Setup
            .GroupBy(s => s.Field).Select(g => g.Last())
            .Select(s => new Step(StepKind.Write, s.Field, new ValueSpec(ValueKind.Constant, s.Value), 1, s.Line, s.Column))
            .ToList();
        return new Workload(name, $"converted from {System.IO.Path.GetFileName(trace.Path)}: {trace.Rounds.Count} round trips",
            System.IO.Path.GetFileName(trace.Path), setup, exits, trace.Path, 1, trace.Path);
    }

    /// <summary>A workload in the workload file format (samples/NestedSim/README.md), which <see cref="WorkloadParser"/> reads back.</summary>
    public static string ToWorkloadText(Workload workload) => WorkloadWriter.ToText(workload);
}
