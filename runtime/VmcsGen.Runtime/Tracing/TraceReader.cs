using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace VmcsGen.Tracing;

/// <summary>
/// Reads the trace format <see cref="Nested.NestedTraceWriter"/> writes (docs/TRACE.md, <c>vmcsgen-trace 1</c>): checks
/// the header, every line's keyword, its operands and its numbers, and hands out one <see cref="TraceEvent"/> per line,
/// lazily and in order (a caller that checks more, e.g. the order of the lines, reports the first mistake of the file).
/// A mistake is a <see cref="LineFormatException"/>: <c>file(line,column): error: …</c>.
/// </summary>
/// <example>
/// <code>
/// var reader = new TraceReader(File.ReadAllText("l1.trace"), "l1.trace");
/// foreach (var e in reader.Events())
/// {
///     if (e.Kind == TraceEventKind.Write) Console.WriteLine($"{e.Name} = {e.Value:X}");
/// }
/// </code>
/// </example>
public sealed class TraceReader
{
    private static readonly Dictionary<string, TraceEventKind> Keywords =
        Enum.GetValues<TraceEventKind>().ToDictionary(TraceFormat.Keyword, StringComparer.Ordinal);

    private readonly LineReader _lines;

    /// <param name="text">The trace's text.</param>
    /// <param name="path">The trace's file name, for errors.</param>
    public TraceReader(string text, string path)
    {
        _lines = new LineReader(text, path);
    }

    public string Path => _lines.Path;

    /// <summary>The trace's number of lines (where a mistake at its end is reported).</summary>
    public int LineCount => _lines.LineCount;

    /// <summary>A trace file's text (<c>.gz</c> read through gzip) as a reader.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cannotRead">The message of the <see cref="ArgumentException"/> thrown when it cannot be read, given the system's reason.</param>
    public static TraceReader Open(string path, Func<string, string> cannotRead) => new(LineReader.ReadFile(path, cannotRead), path);

    /// <summary>Every event of the trace, read and checked now.</summary>
    public static IReadOnlyList<TraceEvent> ReadAll(string text, string path) => new TraceReader(text, path).Events().ToList();

    /// <summary>The trace's events in order, read as they are enumerated; the header is checked first.</summary>
    public IEnumerable<TraceEvent> Events()
    {
        var header = false;
        foreach (var line in _lines.Lines())
        {
            if (!header)
            {
                CheckHeader(line);
                header = true;
                continue;
            }

            yield return Parse(line);
        }

        if (!header)
        {
            throw _lines.Error(1, 1, $"empty trace: expected '{TraceFormat.Header}' as the first line");
        }
    }

    private static void CheckHeader(SourceLine line)
    {
        if (line.Tokens is [{ Text: TraceFormat.Magic }, var version])
        {
            if (version.Text != TraceFormat.Version.ToString(CultureInfo.InvariantCulture))
            {
                var got = LineReader.Shorten(version.Text);
                throw line.Error(version.Column, $"trace format version {got} is not supported (this reader reads version {TraceFormat.Version})");
            }

            return;
        }

        throw line.Error(line.Head.Column, $"not a VmcsGen trace: expected '{TraceFormat.Header}' as the first line");
    }

    private static TraceEvent Parse(SourceLine line)
    {
        var (head, column) = line.Head;
        if (!Keywords.TryGetValue(head, out var kind))
        {
            const string Expected = "exit, hw, read, write, event, launch, resume, vmptrld, vmclear, vmptrst, vmxon, vmxoff, write-through or import";
            throw line.Error(column, $"expected {Expected}, got '{LineReader.Shorten(head)}'");
        }

        var tokens = line.Tokens;
        switch (kind)
        {
            case TraceEventKind.Exit:
                Arity(line, 1, 1);
                var reason = tokens[1];
                ulong? code = reason.Text == TraceFormat.UnknownReason ? null
                    : ushort.TryParse(reason.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r
                    : throw line.Error(reason.Column, $"expected a basic exit reason (0 to 65535, or ?), got '{LineReader.Shorten(reason.Text)}'");
                return new TraceEvent(kind, null, code, false, line.Number, column, reason.Column);
            case TraceEventKind.Hardware or TraceEventKind.WriteThrough:
                Arity(line, 2, 2);
                return new TraceEvent(kind, tokens[1].Text, Number(line, 2), false, line.Number, column, tokens[1].Column);
            case TraceEventKind.Read:
                Arity(line, 2, 2);
                var failedRead = tokens[2].Text == TraceFormat.Fail;
                return new TraceEvent(kind, tokens[1].Text, failedRead ? null : Number(line, 2), failedRead, line.Number, column, tokens[1].Column);
            case TraceEventKind.Write:
                Arity(line, 2, 3);
                return new TraceEvent(kind, tokens[1].Text, Number(line, 2), Failed(line, 3), line.Number, column, tokens[1].Column);
            case TraceEventKind.Event:
                Arity(line, 1, 1);
                return new TraceEvent(kind, tokens[1].Text, null, false, line.Number, column, tokens[1].Column);
            case TraceEventKind.VmPtrLd or TraceEventKind.VmClear or TraceEventKind.VmxOn:
                Arity(line, 1, 2);
                var address = tokens[1].TryNumber(out var a) ? a
                    : throw line.Error(tokens[1].Column, $"expected an address (a number; 0x for hex), got '{LineReader.Shorten(tokens[1].Text)}'");
                return new TraceEvent(kind, null, address, Failed(line, 2), line.Number, column, tokens[1].Column);
            case TraceEventKind.Import:
                Arity(line, 0, 0);
                return new TraceEvent(kind, null, null, false, line.Number, column, column);
            default: // launch, resume, vmptrst, vmxoff
                Arity(line, 0, 1);
                return new TraceEvent(kind, null, null, Failed(line, 1), line.Number, column, column);
        }
    }

    /// <summary>Between <paramref name="min"/> and <paramref name="max"/> operands after the keyword.</summary>
    private static void Arity(SourceLine line, int min, int max)
    {
        var operands = line.Tokens.Count - 1;
        if (operands < min)
        {
            throw line.Error(line.EndColumn, $"'{line.Head.Text}' needs {min} operand{(min == 1 ? string.Empty : "s")}");
        }

        if (operands > max)
        {
            throw line.Error(line.Tokens[max + 1].Column, $"unexpected '{LineReader.Shorten(line.Tokens[max + 1].Text)}'");
        }
    }

    /// <summary>Whether the optional last word at <paramref name="index"/> is there; only <c>fail</c> may be.</summary>
    private static bool Failed(SourceLine line, int index)
    {
        if (line.Tokens.Count <= index)
        {
            return false;
        }

        var last = line.Tokens[index];
        return last.Text == TraceFormat.Fail
            ? true
            : throw line.Error(last.Column, $"expected '{TraceFormat.Fail}' or the end of the line, got '{LineReader.Shorten(last.Text)}'");
    }

    private static ulong Number(SourceLine line, int index) =>
        line.Tokens[index].TryNumber(out var value) ? value
        : throw line.Error(line.Tokens[index].Column, "expected a value (a number; 0x for hex)");
}
