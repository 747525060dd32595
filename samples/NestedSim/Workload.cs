using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

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
}

/// <summary>One line of an exit or setup block.</summary>
public sealed record Step(StepKind Kind, string Field, ValueSpec Value, double Probability, int Line);

/// <summary>An L2 exit reason: what the CPU writes, and L1's handler, with a weight in the workload's mix.</summary>
public sealed record ExitSpec(string Name, int Weight, IReadOnlyList<Step> Steps, int Line);

/// <summary>A parsed workload file.</summary>
public sealed record Workload(string Name, string Description, string BasedOn, IReadOnlyList<Step> Setup, IReadOnlyList<ExitSpec> Exits, string Path);

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
/// a <c>setup</c> block of L1 writes, and <c>exit NAME weight N</c> blocks of <c>hw</c>, <c>read</c> and <c>write</c> lines.
/// </summary>
public static class WorkloadParser
{
    public static Workload Load(string path) => Parse(File.ReadAllText(path), path);

    public static Workload Parse(string text, string path)
    {
        string? name = null, description = null, basedOn = null;
        var setup = new List<Step>();
        var exits = new List<ExitSpec>();
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

            if (block is not null)
            {
                if (head == "end")
                {
                    if (openExit is { } exit)
                    {
                        if (block.Count == 0)
                        {
                            throw Error(col, $"exit '{exit.Name}' has no hw, read or write line");
                        }

                        exits.Add(new ExitSpec(exit.Name, exit.Weight, block, exit.Line));
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
                case "workload":
                    name = Single(tokens, "a workload name", path, lineNo);
                    break;
                case "describe":
                    description = Rest();
                    break;
                case "based-on":
                    basedOn = Rest();
                    break;
                case "setup":
                    block = new List<Step>();
                    break;
                case "exit":
                    if (tokens.Count != 4 || tokens[2].Text != "weight")
                    {
                        throw Error(col, "expected 'exit NAME weight N'");
                    }

                    if (!int.TryParse(tokens[3].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight <= 0)
                    {
                        throw Error(tokens[3].Column, $"expected a positive whole weight, got '{tokens[3].Text}'");
                    }

                    openExit = (tokens[1].Text, weight, lineNo);
                    block = new List<Step>();
                    break;
                default:
                    throw Error(col, $"expected workload, describe, based-on, setup or exit, got '{head}'");
            }
        }

        if (block is not null)
        {
            throw new WorkloadFormatException(path, lines.Length, 1, $"the {(openExit is { } e ? $"exit '{e.Name}'" : "setup")} block has no 'end'");
        }

        if (name is null)
        {
            throw new WorkloadFormatException(path, 1, 1, "expected a 'workload NAME' line");
        }

        if (exits.Count == 0)
        {
            throw new WorkloadFormatException(path, lines.Length, 1, "expected at least one 'exit NAME weight N' block");
        }

        return new Workload(name, description ?? string.Empty, basedOn ?? string.Empty, setup, exits, path);
    }

    private static Step ParseStep(List<(string Text, int Column)> tokens, bool inSetup, string path, int line)
    {
        var (head, col) = tokens[0];
        var kind = head switch
        {
            "hw" => StepKind.Hardware,
            "read" => StepKind.Read,
            "write" => StepKind.Write,
            _ => throw new WorkloadFormatException(path, line, col, $"expected hw, read, write or end, got '{head}'"),
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
        var value = new ValueSpec(ValueKind.Add, 0);
        var probability = 1.0;
        var index = 2;
        if (kind != StepKind.Read)
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

        return new Step(kind, field, value, probability, line);
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

    private static List<(string Text, int Column)> Tokenize(string line)
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
