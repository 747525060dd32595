using System;

namespace VmcsGen.Tracing;

/// <summary>
/// A mistake in a line-oriented text file, as compilers report one: <c>file(line,column): error: what was expected</c>.
/// Line and column are 1-based; the column is where the offending token starts (or where a missing one would).
/// </summary>
public class LineFormatException(string path, int line, int column, string reason)
    : FormatException(Format(path, line, column, reason))
{
    /// <summary>The file (as the user named it).</summary>
    public string FilePath { get; } = path;

    public int Line { get; } = line;

    public int Column { get; } = column;

    /// <summary>What was wrong, without the position.</summary>
    public string Reason { get; } = reason;

    /// <summary>The one spelling of a position and a message: <c>file(line,column): error: reason</c>.</summary>
    public static string Format(string path, int line, int column, string reason) => $"{path}({line},{column}): error: {reason}";
}
