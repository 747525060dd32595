using System;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace VmcsGen.Generator.Emit;

/// <summary>A StringBuilder that tracks indentation and always ends lines with \n.</summary>
internal sealed class SourceWriter
{
    private const int IndentSize = 4;
    private readonly StringBuilder _builder = new();
    private int _indent;

    public void WriteLine()
    {
        _builder.Append('\n');
    }

    public void WriteLine(string text)
    {
        if (text.Length == 0)
        {
            WriteLine();
            return;
        }

        foreach (var line in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (line.Length > 0)
            {
                _builder.Append(' ', _indent * IndentSize);
                _builder.Append(line);
            }

            _builder.Append('\n');
        }
    }

    /// <summary>
    /// An interpolated string formatted with the invariant culture, so numbers never depend on the build machine: C#
    /// prefers this handler over the <see cref="string"/> overload for every <c>$"…"</c> argument.
    /// </summary>
    public void WriteLine(ref InvariantString text) => WriteLine(text.ToStringAndClear());

    /// <summary>Writes <paramref name="header"/> and an opening brace; disposing the result closes it.</summary>
    public Block Block(string header, string suffix = "")
    {
        WriteLine(header);
        WriteLine("{");
        _indent++;
        return new Block(this, suffix);
    }

    public Block Block(ref InvariantString header) => Block(header.ToStringAndClear());

    internal void CloseBlock(string suffix)
    {
        _indent--;
        WriteLine("}" + suffix);
    }

    public void Indent() => _indent++;

    public void Unindent() => _indent--;

    public SourceText ToSourceText() => SourceText.From(_builder.ToString(), Encoding.UTF8);

    public override string ToString() => _builder.ToString();
}

internal readonly struct Block : IDisposable
{
    private readonly SourceWriter _writer;
    private readonly string _suffix;

    public Block(SourceWriter writer, string suffix)
    {
        _writer = writer;
        _suffix = suffix;
    }

    /// <summary>Closes the brace, followed by the suffix (";" for an initializer).</summary>
    public void Dispose() => _writer.CloseBlock(_suffix);
}

/// <summary>Builds an interpolated string with <see cref="CultureInfo.InvariantCulture"/> for every formatted value.</summary>
[System.Runtime.CompilerServices.InterpolatedStringHandler]
internal ref struct InvariantString
{
    private readonly StringBuilder _builder;

    public InvariantString(int literalLength, int formattedCount) => _builder = new StringBuilder(literalLength + (formattedCount * 11));

    public void AppendLiteral(string value) => _builder.Append(value);

    public void AppendFormatted(string? value) => _builder.Append(value);

    public void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public void AppendFormatted<T>(T value, string? format) =>
        _builder.Append(value is IFormattable formattable ? formattable.ToString(format, CultureInfo.InvariantCulture) : value?.ToString());

    public string ToStringAndClear()
    {
        var text = _builder.ToString();
        _builder.Clear();
        return text;
    }
}
