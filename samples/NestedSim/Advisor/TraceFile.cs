using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>
/// Reads a trace (docs/TRACE.md, <c>vmcsgen-trace 1</c>) through the runtime's <see cref="TraceReader"/>, which checks
/// every line, and checks what a workload needs on top (one vmcs12 launched once, round trips closed by <c>resume</c>,
/// fields some compiled manifest names, known events): a mistake is a <see cref="WorkloadFormatException"/> naming file,
/// line and column. <c>TraceFile.Conversion.cs</c> converts the result to a workload: each distinct round-trip shape
/// becomes an exit block weighted by how often it occurred, each value a constant, a <c>+N</c> step or <c>random</c>,
/// whichever describes every occurrence.
/// </summary>
public static partial class TraceFile
{
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

    /// <summary>A trace file (<c>.gz</c> read through gzip, traces compress ~15×).</summary>
    public static Trace Load(string path, IReadOnlyDictionary<string, uint> names) =>
        Parse(LineReader.ReadFile(path, reason => $"--trace {path}: cannot read it ({reason})"), path, names);

    public static Trace Parse(string text, string path, IReadOnlyDictionary<string, uint> names)
    {
        try
        {
            return Read(new TraceReader(text, path), names);
        }
        catch (LineFormatException e) when (e is not WorkloadFormatException)
        {
            // The runtime reader's own mistakes, in the advisor's exception type.
            throw new WorkloadFormatException(e.FilePath, e.Line, e.Column, e.Reason);
        }
    }

    private static Trace Read(TraceReader reader, IReadOnlyDictionary<string, uint> names)
    {
        var path = reader.Path;
        Exception Error(int line, int column, string message) => new WorkloadFormatException(path, line, column, message);
        var byEncoding = new Dictionary<uint, string>();
        foreach (var (name, encoding) in names.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            byEncoding.TryAdd(encoding, name);
        }

        var setup = new List<TraceStep>();
        var rounds = new List<TraceRound>();
        var launched = false;
        (int Reason, int Line, List<TraceStep> Hardware, List<TraceStep> Handler)? open = null;
        foreach (var e in reader.Events())
        {
            TraceStep Access(StepKind kind)
            {
                // A field by name, or by an encoding some compiled manifest names (then written as that name).
                var field = e.Name!;
                var name = names.ContainsKey(field) ? field
                    : field.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && LineToken.TryParseNumber(field, out var number) && number <= uint.MaxValue
                        && byEncoding.TryGetValue((uint)number, out var named) ? named
                    : throw Error(e.Line, e.NameColumn, $"unknown field '{LineReader.Shorten(field)}' (no compiled manifest has it)");
                return new TraceStep(kind, name, e.Value ?? 0, e.Line, e.NameColumn);
            }

            switch (e.Kind)
            {
                case TraceEventKind.Exit:
                    if (open is { } unfinished)
                    {
                        throw Error(e.Line, e.Column, $"an L2 exit while L1 runs: the round trip that began at line {unfinished.Line} has no 'resume'");
                    }

                    if (!launched)
                    {
                        throw Error(e.Line, e.Column, "an L2 exit before L1's first successful 'launch'");
                    }

                    open = (e.Value is { } reason ? (int)reason : -1, e.Line, new List<TraceStep>(), new List<TraceStep>());
                    break;
                case TraceEventKind.Hardware:
                    if (open is not { } round || round.Handler.Count > 0)
                    {
                        throw Error(e.Line, e.Column, "an 'hw' line belongs right after its 'exit' line");
                    }

                    round.Hardware.Add(Access(StepKind.Hardware));
                    break;
                case TraceEventKind.Read:
                    var read = Access(StepKind.Read);
                    open?.Handler.Add(read);
                    break;
                case TraceEventKind.Write:
                    var write = Access(StepKind.Write);
                    if (open is { } writeRound)
                    {
                        writeRound.Handler.Add(write);
                    }
                    else if (!launched && !e.Failed)
                    {
                        setup.Add(write);
                    }

                    break;
                case TraceEventKind.Event:
                    if (!WorkloadParser.Events.Contains(e.Name!))
                    {
                        throw Error(e.Line, e.NameColumn, $"unknown event '{LineReader.Shorten(e.Name!)}'; known: {string.Join(", ", WorkloadParser.Events)}");
                    }

                    open?.Handler.Add(new TraceStep(StepKind.Event, e.Name!, 0, e.Line, e.NameColumn));
                    break;
                case TraceEventKind.Launch:
                    if (!e.Failed)
                    {
                        if (launched)
                        {
                            throw Error(e.Line, e.Column, "a second successful 'launch': a workload replays one vmcs12 launched once; split the trace");
                        }

                        launched = true;
                    }

                    break;
                case TraceEventKind.Resume:
                    if (e.Failed)
                    {
                        throw Error(e.Line, e.Column, "a failed VMRESUME: a workload's round trip always resumes L2; cut the trace before it");
                    }

                    if (open is not { } done)
                    {
                        throw Error(e.Line, e.Column, "'resume' without an L2 exit before it");
                    }

                    rounds.Add(new TraceRound(done.Reason, done.Line, done.Hardware, done.Handler));
                    open = null;
                    break;
                default: // vmptrld, vmclear, vmptrst, vmxon, vmxoff, write-through, import
                    if (open is not null || launched)
                    {
                        throw Error(e.Line, e.Column, $"'{TraceFormat.Keyword(e.Kind)}' after the first launch: a workload replays one vmcs12 from VMLAUNCH " +
                            "on, so this trace cannot become one; record a single-vmcs12 stretch");
                    }

                    break;
            }
        }

        if (open is { } last)
        {
            throw Error(reader.LineCount, 1, $"the trace ends inside the round trip that began at line {last.Line} (no 'resume'): truncated?");
        }

        if (rounds.Count == 0)
        {
            throw Error(reader.LineCount, 1, "the trace has no complete round trip (exit … resume)");
        }

        return new Trace(path, setup, rounds);
    }
}
