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

    /// <summary>Formats with the invariant culture, so numbers never depend on the build machine.</summary>
    public void WriteLine(FormattableString text) => WriteLine(text.ToString(CultureInfo.InvariantCulture));

    /// <summary>Writes <paramref name="header"/> and an opening brace; disposing the result closes it.</summary>
    public Block Block(string header, string suffix = "")
    {
        WriteLine(header);
        WriteLine("{");
        _indent++;
        return new Block(this, suffix);
    }

    public Block Block(FormattableString header) => Block(header.ToString(CultureInfo.InvariantCulture));

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
