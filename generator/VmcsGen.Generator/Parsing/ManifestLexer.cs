using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis.Text;
using VmcsGen.Generator.Diagnostics;

namespace VmcsGen.Generator.Parsing;

/// <summary>Splits manifest text into lines of tokens: <c>#</c> comments dropped, spaces and tabs separate.</summary>
internal static class ManifestLexer
{
    public static List<List<SyntaxToken>> Lex(string path, SourceText text, CancellationToken cancellationToken)
    {
        var lines = new List<List<SyntaxToken>>();
        foreach (var line in text.Lines)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var content = text.ToString(line.Span);
            var tokens = new List<SyntaxToken>();
            var i = 0;
            while (i < content.Length)
            {
                var c = content[i];
                if (c == '#')
                {
                    break;
                }

                if (c == ' ' || c == '\t' || c == '\uFEFF')
                {
                    i++;
                    continue;
                }

                var start = i;
                while (i < content.Length && content[i] != ' ' && content[i] != '\t' && content[i] != '#')
                {
                    i++;
                }

                tokens.Add(new SyntaxToken(content.Substring(start, i - start), Locate(path, line, start, i - start)));
            }

            if (tokens.Count > 0)
            {
                lines.Add(tokens);
            }
        }

        return lines;
    }

    public static LocationInfo Locate(string path, TextLine line, int column, int length) =>
        new(
            path,
            new TextSpan(line.Start + column, length),
            new LinePositionSpan(
                new LinePosition(line.LineNumber, column),
                new LinePosition(line.LineNumber, column + length)));
}
