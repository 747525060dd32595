using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;

namespace VmcsGen.Tracing;

/// <summary>
/// The one reader of VmcsGen's line-oriented text files (traces, NestedSim's workloads, cost files, measurements,
/// manifest text): splits the text into lines (<c>\n</c> or <c>\r\n</c>), strips a comment (from the comment character
/// to the end of the line), splits the rest into whitespace-separated words with their 1-based columns, and reports a
/// mistake as <c>file(line,column): error: …</c> (<see cref="LineFormatException"/>).
/// </summary>
/// <example>
/// <code>
/// foreach (var line in new LineReader(text, "my.costs").Lines())
/// {
///     if (line.Tokens.Count != 2) throw line.Error(line.Head.Column, "expected 'name cycles'");
/// }
/// </code>
/// </example>
public sealed class LineReader
{
    private readonly string[] _lines;

    /// <param name="text">The file's text.</param>
    /// <param name="path">The file's name as the user gave it (it starts every error).</param>
    /// <param name="comment">The comment character (<c>#</c> by default), or null for a format without comments.</param>
    public LineReader(string text, string path, char? comment = '#')
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(path);
        Path = path;
        Comment = comment;
        _lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        EndLine = _lines.Length;
        LineCount = _lines.Length > 0 && _lines[^1].Length == 0 ? _lines.Length - 1 : _lines.Length;
    }

    public string Path { get; }

    public char? Comment { get; }

    /// <summary>The number of lines; a final line terminator ends the last line, it does not start another.</summary>
    public int LineCount { get; }

    /// <summary>The line the end of the text is on: <see cref="LineCount"/> + 1 after a final line terminator.</summary>
    public int EndLine { get; }

    /// <summary>The lines that have a word outside their comment, in order (blank and comment-only lines are skipped).</summary>
    public IEnumerable<SourceLine> Lines()
    {
        for (var i = 0; i < _lines.Length; i++)
        {
            var text = _lines[i];
            var content = StripComment(text, Comment);
            if (!IsBlank(content))
            {
                yield return new SourceLine(Path, i + 1, text, content);
            }
        }
    }

    /// <summary>A mistake that belongs to no single line (e.g. a block not closed at the end of the file).</summary>
    public LineFormatException Error(int line, int column, string reason) => new(Path, line, column, reason);

    /// <summary>A file's text; a name ending in <c>.gz</c> is read through gzip.</summary>
    /// <param name="path">The file.</param>
    /// <param name="cannotRead">The message of the <see cref="ArgumentException"/> thrown when it cannot be read, given the system's reason.</param>
    public static string ReadFile(string path, Func<string, string> cannotRead)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(cannotRead);
        try
        {
            using var file = File.OpenRead(path);
            var gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
            using var reader = new StreamReader(gzip ? new GZipStream(file, CompressionMode.Decompress) : file);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new ArgumentException(cannotRead(e.Message));
        }
    }

    /// <summary>The whitespace-separated words of <paramref name="content"/> with their 1-based columns.</summary>
    public static IReadOnlyList<LineToken> Tokenize(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var tokens = new List<LineToken>();
        var i = 0;
        while (i < content.Length)
        {
            if (IsSpace(content[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < content.Length && !IsSpace(content[i]))
            {
                i++;
            }

            tokens.Add(new LineToken(content[start..i], start + 1));
        }

        return tokens;
    }

    /// <summary>The line up to its comment character (all of it when there is none).</summary>
    public static string StripComment(string line, char? comment = '#')
    {
        ArgumentNullException.ThrowIfNull(line);
        var at = comment is { } c ? line.IndexOf(c, StringComparison.Ordinal) : -1;
        return at >= 0 ? line[..at] : line;
    }

    /// <summary>A word as an error message quotes it: at most 60 characters (a runaway line is not echoed in full).</summary>
    public static string Shorten(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length <= 60 ? text : text[..57] + "...";
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\r' or '\v' or '\f';

    private static bool IsBlank(string content)
    {
        foreach (var c in content)
        {
            if (!IsSpace(c))
            {
                return false;
            }
        }

        return true;
    }
}
