using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

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
        var lines = Read(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length > 0 && char.IsWhiteSpace(line[0]))
            {
                continue; // "  ipi NAME N", "  eoi NAME N": sub-measurements of the line above
            }

            var tokens = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length != 2 || !tokens[1].All(char.IsAsciiDigit) || tokens[1].Length == 0)
            {
                continue; // not a result line
            }

            Add(result, path, i + 1, tokens[0], tokens[1], knownTests);
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
        var lines = Read(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].Split('#')[0].Trim();
            if (text.Length == 0 || (result.Count == 0 && text.StartsWith("test", StringComparison.Ordinal) && !text.Any(char.IsAsciiDigit)))
            {
                continue;
            }

            var tokens = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length != 3)
            {
                throw new FormatException($"{path}({i + 1},1): error: expected 'test before after', got '{CostModel.Truncate(text)}'");
            }

            var origin = $"{path}({i + 1})";
            var before = Number(path, i + 1, tokens[1], "before");
            var after = Number(path, i + 1, tokens[2], "after");
            Check(path, i + 1, tokens[0], knownTests);
            if (result.TryGetValue(tokens[0], out var first))
            {
                throw new FormatException($"{path}({i + 1},1): error: test '{tokens[0]}' appears twice (first at {first.Origin})");
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
            throw new FormatException($"{path}({line},1): error: test '{test}' measured twice with different results ({first.Cycles} at {first.Origin}, {value} here)");
        }

        result[test] = new Measured(value, $"{path}({line})");
    }

    private static void Check(string path, int line, string test, ICollection<string> knownTests)
    {
        if (!knownTests.Contains(test))
        {
            throw new FormatException($"{path}({line},1): error: unknown test '{CostModel.Truncate(test)}'; the vmexit suite has: {string.Join(", ", knownTests.Order(StringComparer.Ordinal))}");
        }
    }

    private static double Number(string path, int line, string text, string what)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
        {
            throw new FormatException($"{path}({line},1): error: {what} must be a positive number of cycles, got '{CostModel.Truncate(text)}'");
        }

        return value;
    }

    private static string[] Read(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read '{path}' ({e.Message})");
        }
    }
}
