using System;
using System.Collections.Generic;

namespace VmcsGen.Tracing;

/// <summary>One line of a text file as <see cref="LineReader"/> hands it out: its number, its text, and its tokens.</summary>
public sealed class SourceLine
{
    internal SourceLine(string path, int number, string text, string content)
    {
        Path = path;
        Number = number;
        Text = text;
        Content = content;
        Tokens = LineReader.Tokenize(content);
    }

    /// <summary>The file the line is in.</summary>
    public string Path { get; }

    /// <summary>The 1-based line number.</summary>
    public int Number { get; }

    /// <summary>The line as written, comment included (no line terminator).</summary>
    public string Text { get; }

    /// <summary>The line without its comment.</summary>
    public string Content { get; }

    /// <summary>The whitespace-separated words of <see cref="Content"/>, with their columns.</summary>
    public IReadOnlyList<LineToken> Tokens { get; }

    /// <summary>The first word (lines handed out by <see cref="LineReader.Lines"/> have at least one).</summary>
    public LineToken Head => Tokens[0];

    /// <summary>The column just after the last word: where a missing operand would be.</summary>
    public int EndColumn => Content.TrimEnd().Length + 1;

    /// <summary>The content after the first word, trimmed (a free-text operand such as a description).</summary>
    public string Rest => Content[(Head.Column - 1 + Head.Text.Length)..].Trim();

    /// <summary>A mistake at <paramref name="column"/> of this line.</summary>
    public LineFormatException Error(int column, string reason) => new(Path, Number, column, reason);

    /// <summary><c>file(line,column): error: reason</c> for this line, for readers that throw their own exception type.</summary>
    public string Describe(int column, string reason) => LineFormatException.Format(Path, Number, column, reason);

    public override string ToString() => $"{Path}({Number}): {Text}";
}
