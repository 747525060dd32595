using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>One access or event of a recorded round trip, with the trace line it came from.</summary>
public sealed record TraceStep(StepKind Kind, string Field, ulong Value, int Line, int Column);

/// <summary>One recorded round trip: the exit reason, what the CPU wrote, and L1's handler up to VMRESUME.</summary>
public sealed record TraceRound(int Reason, int Line, IReadOnlyList<TraceStep> Hardware, IReadOnlyList<TraceStep> Handler);

/// <summary>A parsed trace: L1's setup writes before its first VMLAUNCH and every round trip after it.</summary>
public sealed record Trace(string Path, IReadOnlyList<TraceStep> Setup, IReadOnlyList<TraceRound> Rounds);

/// <summary>
/// Reads the trace format <see cref="NestedTraceRecorder"/> writes (docs/TRACE.md, <c>vmcsgen-trace 1</c>), checks every
/// line (a mistake is a <see cref="WorkloadFormatException"/> naming file, line and column), and converts a trace to a
/// workload: each distinct round-trip shape becomes an exit block weighted by how often it occurred, each value a
/// constant, a <c>+N</c> step or <c>random</c>, whichever describes every occurrence.
/// </summary>
public static class TraceFile
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

    /// <summary>The workload name of a trace file: its name without <c>.gz</c> and <c>.trace</c>.</summary>
    public static string NameOf(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        foreach (var extension in new[] { ".gz", ".trace" })
        {
            if (name.EndsWith(extension, StringComparison.OrdinalIgnoreCase) && name.Length > extension.Length)
            {
                name = name[..^extension.Length];
            }
        }

        return name;
    }

    public static Trace Load(string path, IReadOnlyDictionary<string, uint> names)
    {
        string text;
        try
        {
            // A trace ending in .gz is read through gzip (traces compress ~15×).
            using var file = File.OpenRead(path);
            using var reader = new StreamReader(path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file);
            text = reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new ArgumentException($"--trace {path}: cannot read it ({e.Message})");
        }

        return Parse(text, path, names);
    }

    public static Trace Parse(string text, string path, IReadOnlyDictionary<string, uint> names)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        if (lines.Length > 0 && lines[^1].Length == 0)
        {
            lines = lines[..^1];
        }

        Exception Error(int line, int column, string message) => new WorkloadFormatException(path, line, column, message);
        var byEncoding = new Dictionary<uint, string>();
        foreach (var (name, encoding) in names.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            byEncoding.TryAdd(encoding, name);
        }

        var setup = new List<TraceStep>();
        var rounds = new List<TraceRound>();
        var header = false;
        var launched = false;
        (int Reason, int Line, List<TraceStep> Hardware, List<TraceStep> Handler)? open = null;
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var code = lines[i].Split('#')[0];
            var tokens = WorkloadParser.Tokenize(code);
            if (tokens.Count == 0)
            {
                continue;
            }

            var (head, col) = tokens[0];
            if (!header)
            {
                if (tokens is [("vmcsgen-trace", _), (var version, var vcol)])
                {
                    if (version != "1")
                    {
                        throw Error(lineNo, vcol, $"trace format version {CostModel.Truncate(version)} is not supported (this NestedSim reads version 1)");
                    }

                    header = true;
                    continue;
                }

                throw Error(lineNo, col, $"not a VmcsGen trace: expected '{NestedTraceRecorder.Header}' as the first line");
            }

            bool Failed(int index) => tokens.Count > index && tokens[index].Text == "fail";
            void Arity(int min, int max)
            {
                if (tokens.Count < min)
                {
                    throw Error(lineNo, code.TrimEnd().Length + 1, $"'{head}' needs {min - 1} operand{(min == 2 ? string.Empty : "s")}");
                }

                if (tokens.Count > max)
                {
                    throw Error(lineNo, tokens[max].Column, $"unexpected '{CostModel.Truncate(tokens[max].Text)}'");
                }
            }

            TraceStep Access(StepKind kind, bool hasValue)
            {
                var (field, fcol) = tokens[1];
                // A field by name, or by an encoding some compiled manifest names (then written as that name).
                var name = names.ContainsKey(field) ? field
                    : field.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && WorkloadParser.TryNumber(field, out var e) && e <= uint.MaxValue && byEncoding.TryGetValue((uint)e, out var named) ? named
                    : throw Error(lineNo, fcol, $"unknown field '{CostModel.Truncate(field)}' (no compiled manifest has it)");
                ulong value = 0;
                if (hasValue)
                {
                    if (tokens.Count < 3 || !WorkloadParser.TryNumber(tokens[2].Text, out value))
                    {
                        throw Error(lineNo, tokens.Count < 3 ? code.TrimEnd().Length + 1 : tokens[2].Column, "expected a value (a number; 0x for hex)");
                    }
                }

                return new TraceStep(kind, name, value, lineNo, fcol);
            }

            switch (head)
            {
                case "exit":
                    Arity(2, 2);
                    if (open is { } unfinished)
                    {
                        throw Error(lineNo, col, $"an L2 exit while L1 runs: the round trip that began at line {unfinished.Line} has no 'resume'");
                    }

                    if (!launched)
                    {
                        throw Error(lineNo, col, "an L2 exit before L1's first successful 'launch'");
                    }

                    var reason = tokens[1].Text == "?" ? -1 : int.TryParse(tokens[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var r) && r < 65536 ? r
                        : throw Error(lineNo, tokens[1].Column, $"expected a basic exit reason (0 to 65535, or ?), got '{CostModel.Truncate(tokens[1].Text)}'");
                    open = (reason, lineNo, new List<TraceStep>(), new List<TraceStep>());
                    break;
                case "hw":
                    Arity(3, 3);
                    if (open is not { } round || round.Handler.Count > 0)
                    {
                        throw Error(lineNo, col, "an 'hw' line belongs right after its 'exit' line");
                    }

                    round.Hardware.Add(Access(StepKind.Hardware, hasValue: true));
                    break;
                case "read":
                    Arity(3, 3);
                    var read = Access(StepKind.Read, hasValue: !Failed(2));
                    if (open is { } readRound)
                    {
                        readRound.Handler.Add(read);
                    }

                    break;
                case "write":
                    Arity(3, 4);
                    var write = Access(StepKind.Write, hasValue: true);
                    if (open is { } writeRound)
                    {
                        writeRound.Handler.Add(write);
                    }
                    else if (!launched && !Failed(3))
                    {
                        setup.Add(write);
                    }

                    break;
                case "event":
                    Arity(2, 2);
                    if (!WorkloadParser.Events.Contains(tokens[1].Text))
                    {
                        throw Error(lineNo, tokens[1].Column, $"unknown event '{CostModel.Truncate(tokens[1].Text)}'; known: {string.Join(", ", WorkloadParser.Events)}");
                    }

                    if (open is { } eventRound)
                    {
                        eventRound.Handler.Add(new TraceStep(StepKind.Event, tokens[1].Text, 0, lineNo, tokens[1].Column));
                    }

                    break;
                case "launch":
                    Arity(1, 2);
                    if (!Failed(1))
                    {
                        if (launched)
                        {
                            throw Error(lineNo, col, "a second successful 'launch': a workload replays one vmcs12 launched once; split the trace");
                        }

                        launched = true;
                    }

                    break;
                case "resume":
                    Arity(1, 2);
                    if (Failed(1))
                    {
                        throw Error(lineNo, col, "a failed VMRESUME: a workload's round trip always resumes L2; cut the trace before it");
                    }

                    if (open is not { } done)
                    {
                        throw Error(lineNo, col, "'resume' without an L2 exit before it");
                    }

                    rounds.Add(new TraceRound(done.Reason, done.Line, done.Hardware, done.Handler));
                    open = null;
                    break;
                case "vmptrld" or "vmclear" or "vmptrst" or "vmxon" or "vmxoff" or "write-through" or "import":
                    if (open is not null || launched)
                    {
                        throw Error(lineNo, col, $"'{head}' after the first launch: a workload replays one vmcs12 from VMLAUNCH on, so this trace cannot become one; record a single-vmcs12 stretch");
                    }

                    break;
                default:
                    throw Error(lineNo, col, $"expected exit, hw, read, write, event, launch, resume, vmptrld, vmclear, vmptrst, vmxon, vmxoff, write-through or import, got '{CostModel.Truncate(head)}'");
            }
        }

        if (!header)
        {
            throw Error(1, 1, $"empty trace: expected '{NestedTraceRecorder.Header}' as the first line");
        }

        if (open is { } last)
        {
            throw Error(lines.Length, 1, $"the trace ends inside the round trip that began at line {last.Line} (no 'resume'): truncated?");
        }

        if (rounds.Count == 0)
        {
            throw Error(lines.Length, 1, "the trace has no complete round trip (exit … resume)");
        }

        return new Trace(path, setup, rounds);
    }

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
            var key = $"{round.Reason}|{string.Join(',', round.Hardware.Select(s => s.Field))}|{string.Join(',', round.Handler.Select(s => $"{s.Kind}:{s.Field}"))}";
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
                steps.Add(new Step(StepKind.Hardware, first.Hardware[i].Field, values.Count == 1 ? new ValueSpec(ValueKind.Constant, values[0]) : new ValueSpec(ValueKind.Random, 0), 1, first.Hardware[i].Line, first.Hardware[i].Column));
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
        return new Workload(name, $"converted from {System.IO.Path.GetFileName(trace.Path)}: {trace.Rounds.Count} round trips", System.IO.Path.GetFileName(trace.Path), setup, exits, trace.Path, 1, trace.Path);
    }

    /// <summary>A workload in the workload file format (samples/NestedSim/README.md), which <see cref="WorkloadParser"/> reads back.</summary>
    public static string ToWorkloadText(Workload workload)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"workload   {workload.Name}");
        if (workload.Description.Length > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"describe   {workload.Description}");
        }

        if (workload.BasedOn.Length > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"based-on   {workload.BasedOn}");
        }

        if (workload.Setup.Count > 0)
        {
            text.AppendLine().AppendLine("setup");
            foreach (var step in workload.Setup)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  write {step.Field,-30} {step.Value}");
            }

            text.AppendLine("end");
        }

        foreach (var exit in workload.Exits)
        {
            text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"exit {exit.Name} weight {exit.Weight}");
            foreach (var step in exit.Steps)
            {
                var line = step.Kind switch
                {
                    StepKind.Hardware => $"  hw    {step.Field,-30} {step.Value}",
                    StepKind.Read => $"  read  {step.Field}",
                    StepKind.Write => $"  write {step.Field,-30} {step.Value}",
                    _ => $"  event {step.Field}",
                };
                text.AppendLine(step.Probability < 1 ? line + $"  p={step.Probability.ToString(CultureInfo.InvariantCulture)}" : line);
            }

            text.AppendLine("end");
        }

        return text.ToString();
    }
}
