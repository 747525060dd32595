using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim;

/// <summary>A measured cycles-per-iteration figure and where it was read (<c>file(line)</c>).</summary>
public readonly record struct Measured(double Cycles, string Origin);

/// <summary>Published or user-measured before/after figures of one test.</summary>
public sealed record PublishedPoint(string Test, double Before, double After, string Origin)
{
    public double Change => (After - Before) / Before;
}

/// <summary>
/// Reads measured kvm-unit-tests vmexit figures: the test's own output (<c>NAME CYCLES</c> lines, everything else such
/// as "PM timer port is 608", "  ipi NAME N" or "NAME (skipped)" ignored) and before/after tables (<c>test before after</c>,
/// tab- or space-separated, <c>#</c> comments, an optional header row). Every mistake names the file and line.
/// </summary>
public static class Measurements
{
    /// <summary>One run's vmexit output: test → cycles per iteration.</summary>
    public static Dictionary<string, Measured> ReadVmexitOutput(string path, ICollection<string> knownTests)
    {
        var result = new Dictionary<string, Measured>(StringComparer.Ordinal);
        foreach (var line in Read(path, comment: null).Lines())
        {
            if (char.IsWhiteSpace(line.Text[0]))
            {
                continue; // "  ipi NAME N", "  eoi NAME N": sub-measurements of the line above
            }

            var tokens = line.Tokens;
            if (tokens.Count != 2 || !tokens[1].Text.All(char.IsAsciiDigit))
            {
                continue; // not a result line
            }

            Add(result, path, line.Number, tokens[0].Text, tokens[1].Text, knownTests);
        }

        if (result.Count == 0)
        {
            throw new FormatException($"{path}: error: no 'TEST CYCLES' line of kvm-unit-tests' vmexit output found");
        }

        return result;
    }

    /// <summary>A table of <c>test before after</c> rows.</summary>
    public static Dictionary<string, PublishedPoint> ReadTable(string path, ICollection<string> knownTests)
    {
        var result = new Dictionary<string, PublishedPoint>(StringComparer.Ordinal);
        foreach (var line in Read(path, comment: '#').Lines())
        {
            var text = line.Content.Trim();
            if (result.Count == 0 && text.StartsWith("test", StringComparison.Ordinal) && !text.Any(char.IsAsciiDigit))
            {
                continue;
            }

            var tokens = line.Tokens.Select(t => t.Text).ToList();
            var number = line.Number;
            if (tokens.Count != 3)
            {
                throw new FormatException(line.Describe(1, $"expected 'test before after', got '{CostModel.Truncate(text)}'"));
            }

            var origin = $"{path}({number})";
            var before = Number(path, number, tokens[1], "before");
            var after = Number(path, number, tokens[2], "after");
            Check(path, number, tokens[0], knownTests);
            if (result.TryGetValue(tokens[0], out var first))
            {
                throw new FormatException(line.Describe(1, $"test '{tokens[0]}' appears twice (first at {first.Origin})"));
            }

            result[tokens[0]] = new PublishedPoint(tokens[0], before, after, origin);
        }

        if (result.Count == 0)
        {
            throw new FormatException($"{path}: error: no 'test before after' row found");
        }

        return result;
    }

    private static void Add(Dictionary<string, Measured> result, string path, int line, string test, string cycles, ICollection<string> knownTests)
    {
        Check(path, line, test, knownTests);
        var value = Number(path, line, cycles, "cycles");
        if (result.TryGetValue(test, out var first) && first.Cycles != value)
        {
            throw new FormatException(LineFormatException.Format(path, line, 1, $"test '{test}' measured twice with different results ({first.Cycles} at " +
                $"{first.Origin}, {value} here)"));
        }

        result[test] = new Measured(value, $"{path}({line})");
    }

    private static void Check(string path, int line, string test, ICollection<string> knownTests)
    {
        if (!knownTests.Contains(test))
        {
            throw new FormatException(LineFormatException.Format(path, line, 1, $"unknown test '{CostModel.Truncate(test)}'; the vmexit suite has: " +
                $"{string.Join(", ", knownTests.Order(StringComparer.Ordinal))}"));
        }
    }

    private static double Number(string path, int line, string text, string what)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
        {
            throw new FormatException(LineFormatException.Format(path, line, 1, $"{what} must be a positive number of cycles, " +
                $"got '{CostModel.Truncate(text)}'"));
        }

        return value;
    }

    private static LineReader Read(string path, char? comment) =>
        new(LineReader.ReadFile(path, reason => $"cannot read '{path}' ({reason})"), path, comment);
}
