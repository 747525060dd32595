using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// Reads the line-oriented workload format (samples/NestedSim/README.md): <c>workload</c>, <c>describe</c>, <c>based-on</c>,
/// <c>per-iteration</c>, a <c>setup</c> block of L1 writes, <c>exit NAME weight N</c> blocks of <c>hw</c>, <c>read</c>,
/// <c>write</c> and <c>event</c> lines, and <c>handlers FILE</c> + <c>run NAME weight N</c> to reuse exit blocks kept in a
/// handlers file.
/// </summary>
public static class WorkloadParser
{
    /// <summary>Events a workload may name; each has a fixed cost term of the same name (<see cref="CostModel"/>).</summary>
    public static readonly IReadOnlyList<string> Events = [CostModel.UserspaceEvent, CostModel.InjectEvent];

    public static Workload Load(string path) => Parse(ReadFile(path, path), path);

    public static Workload Parse(string text, string path) => Parse(text, path, library: false);

    private static string ReadFile(string path, string whoAsks) =>
        LineReader.ReadFile(path, reason => $"{whoAsks}: cannot read '{path}' ({reason})");

    private static Workload Parse(string text, string path, bool library)
    {
        string? name = null, description = null, basedOn = null;
        var setup = new List<Step>();
        string setupPath = path;
        var exits = new List<ExitSpec>();
        var handlers = new Dictionary<string, ExitSpec>(StringComparer.Ordinal);
        Workload? handlerFile = null;
        int? perIteration = null;
        List<Step>? block = null;
        (string Name, int Weight, int Line)? openExit = null;
        var reader = new LineReader(text, path);
        foreach (var line in reader.Lines())
        {
            var lineNo = line.Number;
            var tokens = line.Tokens;
            var (head, col) = line.Head;
            Exception Error(int column, string message) => new WorkloadFormatException(path, lineNo, column, message);
            int Weight(int index)
            {
                if (!int.TryParse(tokens[index].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight <= 0)
                {
                    throw Error(tokens[index].Column, $"expected a positive whole weight, got '{LineReader.Shorten(tokens[index].Text)}'");
                }

                return weight;
            }

            if (block is not null)
            {
                if (head == "end")
                {
                    if (openExit is { } exit)
                    {
                        if (block.Count == 0)
                        {
                            throw Error(col, $"exit '{exit.Name}' has no hw, read, write or event line");
                        }

                        if (exits.Any(e => e.Name == exit.Name))
                        {
                            throw new WorkloadFormatException(path, exit.Line, 6, $"exit '{exit.Name}' is defined twice");
                        }

                        exits.Add(new ExitSpec(exit.Name, exit.Weight, block, exit.Line, path));
                    }
                    else
                    {
                        setup.AddRange(block);
                    }

                    block = null;
                    openExit = null;
                    continue;
                }

                block.Add(ParseStep(tokens, openExit is null, path, lineNo));
                continue;
            }

            switch (head)
            {
                case "workload" when !library:
                    name = Single(tokens, "a workload name", path, lineNo);
                    break;
                case "describe" when !library:
                    description = line.Rest;
                    break;
                case "based-on" when !library:
                    basedOn = line.Rest;
                    break;
                case "per-iteration" when !library:
                    var count = Single(tokens, "a whole number of nested round trips per iteration", path, lineNo);
                    if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 16)
                    {
                        throw Error(tokens[1].Column, "expected a whole number of nested round trips per iteration (0 to 16), " +
                            $"got '{LineReader.Shorten(count)}'");
                    }

                    perIteration = n;
                    break;
                case "handlers" when !library:
                    if (handlerFile is not null)
                    {
                        throw Error(col, "only one handlers line is allowed");
                    }

                    var file = Single(tokens, "a handlers file name", path, lineNo);
                    var full = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? ".", file);
                    if (!File.Exists(full))
                    {
                        throw Error(tokens[1].Column, $"handlers file '{file}' not found (looked for {full})");
                    }

                    handlerFile = Parse(ReadFile(full, $"{path}({lineNo},{tokens[1].Column})"), full, library: true);
                    foreach (var h in handlerFile.Exits)
                    {
                        handlers[h.Name] = h;
                    }

                    break;
                case "run" when !library:
                    if (tokens.Count != 4 || tokens[2].Text != "weight")
                    {
                        throw Error(col, "expected 'run NAME weight N'");
                    }

                    if (handlerFile is null)
                    {
                        throw Error(col, "'run' needs a 'handlers FILE' line before it");
                    }

                    if (!handlers.TryGetValue(tokens[1].Text, out var handler))
                    {
                        throw Error(tokens[1].Column, $"no exit '{LineReader.Shorten(tokens[1].Text)}' in {System.IO.Path.GetFileName(handlerFile.Path)}; " +
                            $"it has: {string.Join(", ", handlers.Keys)}");
                    }

                    if (exits.Any(e => e.Name == handler.Name))
                    {
                        throw Error(tokens[1].Column, $"exit '{handler.Name}' is already in the mix");
                    }

                    exits.Add(handler with { Weight = Weight(3) });
                    break;
                case "setup":
                    block = new List<Step>();
                    break;
                case "exit":
                    if (tokens.Count != 4 || tokens[2].Text != "weight")
                    {
                        throw Error(col, "expected 'exit NAME weight N'");
                    }

                    openExit = (tokens[1].Text, Weight(3), lineNo);
                    block = new List<Step>();
                    break;
                default:
                    throw Error(col, library
                        ? $"a handlers file holds only setup and exit blocks, got '{LineReader.Shorten(head)}'"
                        : $"expected workload, describe, based-on, per-iteration, handlers, run, setup or exit, got '{LineReader.Shorten(head)}'");
            }
        }

        if (block is not null)
        {
            throw new WorkloadFormatException(path, reader.EndLine, 1, $"the {(openExit is { } e ? $"exit '{e.Name}'" : "setup")} block has no 'end'");
        }

        if (library)
        {
            return new Workload(System.IO.Path.GetFileName(path), string.Empty, string.Empty, setup, exits, path);
        }

        if (name is null)
        {
            throw new WorkloadFormatException(path, 1, 1, "expected a 'workload NAME' line");
        }

        if (setup.Count == 0 && handlerFile is not null)
        {
            setup.AddRange(handlerFile.Setup);
            setupPath = handlerFile.Path;
        }

        var iterations = perIteration ?? 1;
        if (exits.Count == 0 && iterations > 0)
        {
            throw new WorkloadFormatException(path, reader.EndLine, 1, "expected at least one 'exit NAME weight N' block or 'run' line (or 'per-iteration 0')");
        }

        if (exits.Count > 0 && iterations == 0)
        {
            throw new WorkloadFormatException(path, reader.EndLine, 1, "a workload with 'per-iteration 0' has no exits; remove its exit blocks and run lines");
        }

        return new Workload(name, description ?? string.Empty, basedOn ?? string.Empty, setup, exits, path, iterations, setupPath);
    }

    private static Step ParseStep(IReadOnlyList<LineToken> tokens, bool inSetup, string path, int line)
    {
        var (head, col) = tokens[0];
        var kind = head switch
        {
            "hw" => StepKind.Hardware,
            "read" => StepKind.Read,
            "write" => StepKind.Write,
            "event" => StepKind.Event,
            _ => throw new WorkloadFormatException(path, line, col, $"expected hw, read, write, event or end, got '{LineReader.Shorten(head)}'"),
        };
        if (inSetup && kind != StepKind.Write)
        {
            throw new WorkloadFormatException(path, line, col, "a setup block holds only write lines");
        }

        if (tokens.Count < 2)
        {
            throw new WorkloadFormatException(path, line, col + head.Length, $"expected a field name after '{head}'");
        }

        var field = tokens[1].Text;
        if (kind == StepKind.Event && !Events.Contains(field))
        {
            throw new WorkloadFormatException(path, line, tokens[1].Column, $"unknown event '{LineReader.Shorten(field)}'; known: {string.Join(", ", Events)}");
        }

        var value = new ValueSpec(ValueKind.Add, 0);
        var probability = 1.0;
        var index = 2;
        if (kind is not (StepKind.Read or StepKind.Event))
        {
            if (index >= tokens.Count || tokens[index].Text.StartsWith("p=", StringComparison.Ordinal))
            {
                throw new WorkloadFormatException(path, line, index < tokens.Count ? tokens[index].Column : tokens[1].Column + field.Length,
                    "expected a value: a number, random, +N, |MASK or &~MASK");
            }

            value = ParseValue(tokens[index].Text) ?? throw new WorkloadFormatException(path, line, tokens[index].Column,
                $"expected a value (a number, random, +N, |MASK or &~MASK), got '{tokens[index].Text}'");
            index++;
        }

        if (index < tokens.Count && tokens[index].Text.StartsWith("p=", StringComparison.Ordinal))
        {
            if (!double.TryParse(tokens[index].Text.AsSpan(2), NumberStyles.Float, CultureInfo.InvariantCulture, out probability) || probability is < 0 or > 1)
            {
                throw new WorkloadFormatException(path, line, tokens[index].Column, $"expected a probability between 0 and 1, got '{tokens[index].Text}'");
            }

            index++;
        }

        if (index < tokens.Count)
        {
            throw new WorkloadFormatException(path, line, tokens[index].Column, $"unexpected '{tokens[index].Text}'");
        }

        return new Step(kind, field, value, probability, line, tokens[1].Column);
    }

    private static ValueSpec? ParseValue(string text)
    {
        if (text == "random")
        {
            return new ValueSpec(ValueKind.Random, 0);
        }

        var (kind, digits) = text switch
        {
            ['+', ..] => (ValueKind.Add, text[1..]),
            ['|', ..] => (ValueKind.SetBits, text[1..]),
            ['&', '~', ..] => (ValueKind.ClearBits, text[2..]),
            _ => (ValueKind.Constant, text),
        };
        return TryNumber(digits, out var number) ? new ValueSpec(kind, number) : null;
    }

    /// <summary>A number as workload and trace files write it: <c>0x</c> and hex digits, or decimal digits.</summary>
    public static bool TryNumber(string text, out ulong value) => LineToken.TryParseNumber(text, out value);

    private static string Single(IReadOnlyList<LineToken> tokens, string what, string path, int line)
    {
        if (tokens.Count != 2)
        {
            throw new WorkloadFormatException(path, line, tokens.Count < 2 ? tokens[0].Column + tokens[0].Text.Length : tokens[2].Column, $"expected {what}");
        }

        return tokens[1].Text;
    }
}
