using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace VmcsGen.Samples.NestedSim;

/// <summary>How a workload line computes a value.</summary>
public enum ValueKind
{
    /// <summary>A fixed number.</summary>
    Constant,

    /// <summary>A fresh random 64-bit value each time.</summary>
    Random,

    /// <summary>L1's last known value of the field plus N (e.g. <c>+2</c> to skip an instruction).</summary>
    Add,

    /// <summary>L1's last known value with bits set (<c>|0x4</c>).</summary>
    SetBits,

    /// <summary>L1's last known value with bits cleared (<c>&amp;~0x4</c>).</summary>
    ClearBits,
}

public readonly record struct ValueSpec(ValueKind Kind, ulong Operand)
{
    /// <summary>The value this spec writes, from L1's last known value of the field and the round's random draw.</summary>
    public ulong Apply(ulong current, ulong random) => Kind switch
    {
        ValueKind.Constant => Operand,
        ValueKind.Random => random,
        ValueKind.Add => current + Operand,
        ValueKind.SetBits => current | Operand,
        _ => current & ~Operand,
    };

    public override string ToString() => Kind switch
    {
        ValueKind.Constant => $"0x{Operand:X}",
        ValueKind.Random => "random",
        ValueKind.Add => $"+{Operand}",
        ValueKind.SetBits => $"|0x{Operand:X}",
        _ => $"&~0x{Operand:X}",
    };
}

public enum StepKind
{
    /// <summary>The CPU writes the field into vmcs02 on the exit.</summary>
    Hardware,

    /// <summary>L1's handler VMREADs the field.</summary>
    Read,

    /// <summary>L1's handler VMWRITEs the field.</summary>
    Write,

    /// <summary>A workload event with a fixed cost (e.g. <c>l1-userspace</c>): not a VMCS access.</summary>
    Event,
}

/// <summary>One line of an exit or setup block; <paramref name="Column"/> is where its field (or event) name starts.</summary>
public sealed record Step(StepKind Kind, string Field, ValueSpec Value, double Probability, int Line, int Column = 0);

/// <summary>An L2 exit reason: what the CPU writes, and L1's handler, with a weight in the workload's mix.</summary>
/// <param name="Path">The file the block is written in (the workload, or a handlers file it uses).</param>
public sealed record ExitSpec(string Name, int Weight, IReadOnlyList<Step> Steps, int Line, string Path = "");

/// <summary>A parsed workload file.</summary>
/// <param name="PerIteration">Nested round trips per iteration of the workload's test (a kvm-unit-tests iteration may exit twice, or never).</param>
/// <param name="SetupPath">The file the setup block is written in.</param>
public sealed record Workload(
    string Name, string Description, string BasedOn, IReadOnlyList<Step> Setup, IReadOnlyList<ExitSpec> Exits, string Path,
    int PerIteration = 1, string SetupPath = "")
{
    /// <summary>Where a step of this workload is written.</summary>
    public string PathOf(Step step) =>
        Exits.FirstOrDefault(e => e.Steps.Contains(step))?.Path is { Length: > 0 } p ? p
        : Setup.Contains(step) && SetupPath.Length > 0 ? SetupPath
        : Path;
}

/// <summary>A malformed workload file: names the file, the line and column, and what was expected.</summary>
public sealed class WorkloadFormatException(string path, int line, int column, string message)
    : FormatException($"{path}({line},{column}): error: {message}")
{
    public string FilePath { get; } = path;

    public int Line { get; } = line;

    public int Column { get; } = column;
}

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

    private static string ReadFile(string path, string whoAsks)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{whoAsks}: cannot read '{path}' ({e.Message})");
        }
    }

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
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var content = lines[i];
            var hash = content.IndexOf('#');
            if (hash >= 0)
            {
                content = content[..hash];
            }

            var tokens = Tokenize(content);
            if (tokens.Count == 0)
            {
                continue;
            }

            var (head, col) = tokens[0];
            Exception Error(int column, string message) => new WorkloadFormatException(path, lineNo, column, message);
            string Rest() => content[(col - 1 + head.Length)..].Trim();
            int Weight(int index)
            {
                if (!int.TryParse(tokens[index].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight <= 0)
                {
                    throw Error(tokens[index].Column, $"expected a positive whole weight, got '{CostModel.Truncate(tokens[index].Text)}'");
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
                    description = Rest();
                    break;
                case "based-on" when !library:
                    basedOn = Rest();
                    break;
                case "per-iteration" when !library:
                    var count = Single(tokens, "a whole number of nested round trips per iteration", path, lineNo);
                    if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 16)
                    {
                        throw Error(tokens[1].Column, $"expected a whole number of nested round trips per iteration (0 to 16), got '{CostModel.Truncate(count)}'");
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
                        throw Error(tokens[1].Column, $"no exit '{CostModel.Truncate(tokens[1].Text)}' in {System.IO.Path.GetFileName(handlerFile.Path)}; it has: {string.Join(", ", handlers.Keys)}");
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
                        ? $"a handlers file holds only setup and exit blocks, got '{CostModel.Truncate(head)}'"
                        : $"expected workload, describe, based-on, per-iteration, handlers, run, setup or exit, got '{CostModel.Truncate(head)}'");
            }
        }

        if (block is not null)
        {
            throw new WorkloadFormatException(path, lines.Length, 1, $"the {(openExit is { } e ? $"exit '{e.Name}'" : "setup")} block has no 'end'");
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
            throw new WorkloadFormatException(path, lines.Length, 1, "expected at least one 'exit NAME weight N' block or 'run' line (or 'per-iteration 0')");
        }

        if (exits.Count > 0 && iterations == 0)
        {
            throw new WorkloadFormatException(path, lines.Length, 1, "a workload with 'per-iteration 0' has no exits; remove its exit blocks and run lines");
        }

        return new Workload(name, description ?? string.Empty, basedOn ?? string.Empty, setup, exits, path, iterations, setupPath);
    }

    private static Step ParseStep(List<(string Text, int Column)> tokens, bool inSetup, string path, int line)
    {
        var (head, col) = tokens[0];
        var kind = head switch
        {
            "hw" => StepKind.Hardware,
            "read" => StepKind.Read,
            "write" => StepKind.Write,
            "event" => StepKind.Event,
            _ => throw new WorkloadFormatException(path, line, col, $"expected hw, read, write, event or end, got '{CostModel.Truncate(head)}'"),
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
            throw new WorkloadFormatException(path, line, tokens[1].Column, $"unknown event '{CostModel.Truncate(field)}'; known: {string.Join(", ", Events)}");
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

    public static bool TryNumber(string text, out ulong value) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static string Single(List<(string Text, int Column)> tokens, string what, string path, int line)
    {
        if (tokens.Count != 2)
        {
            throw new WorkloadFormatException(path, line, tokens.Count < 2 ? tokens[0].Column + tokens[0].Text.Length : tokens[2].Column, $"expected {what}");
        }

        return tokens[1].Text;
    }

    /// <summary>Whitespace-separated tokens with their 1-based columns (workload and trace files alike).</summary>
    internal static List<(string Text, int Column)> Tokenize(string line)
    {
        var tokens = new List<(string, int)>();
        var i = 0;
        while (i < line.Length)
        {
            if (line[i] is ' ' or '\t')
            {
                i++;
                continue;
            }

            var start = i;
            while (i < line.Length && line[i] is not (' ' or '\t'))
            {
                i++;
            }

            tokens.Add((line[start..i], start + 1));
        }

        return tokens;
    }
}
