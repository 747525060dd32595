using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>
/// A manifest's text, kept line for line so the advisor can write a proposal that differs from it only in the class and
/// option columns of the fields it reclassifies (and the layout line): every offset, comment and header stays as written.
/// The generator is the judge of the text; this class only finds the field lines and their tokens (docs/MANIFEST.md).
/// </summary>
public sealed class ManifestText
{
    private static readonly string[] Classes = ["shadow-rw", "shadow-ro", "sync", "rare-sync", "no-sync"];
    private readonly string[] _lines;
    private readonly Dictionary<string, int> _fieldLines = new(StringComparer.Ordinal);

    public ManifestText(string path, string text)
    {
        Path = path;
        _lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < _lines.Length; i++)
        {
            var tokens = Tokens(_lines[i]);
            if (tokens.Count >= 2 && tokens[1].StartsWith("0x", StringComparison.OrdinalIgnoreCase) && char.IsLetter(tokens[0][0]))
            {
                _fieldLines.TryAdd(tokens[0], i);
            }
            else if (tokens is ["layout", var ns, ..])
            {
                Namespace = ns;
                LayoutLine = i;
            }
        }
    }

    public string Path { get; }

    public string Text => string.Join('\n', _lines);

    public string Namespace { get; } = string.Empty;

    private int LayoutLine { get; } = -1;

    /// <summary>The <c>group=</c> of each field that names one.</summary>
    public IReadOnlyDictionary<string, string> GroupNames() =>
        _fieldLines
            .Select(kv => (kv.Key, Group: Tokens(_lines[kv.Value]).FirstOrDefault(t => t.StartsWith("group=", StringComparison.Ordinal))))
            .Where(x => x.Group is not null)
            .ToDictionary(x => x.Key, x => x.Group![6..], StringComparer.Ordinal);

    /// <summary>
    /// The manifest with each field <paramref name="proposal"/> changes from <paramref name="original"/> given the class and options as
    /// <paramref name="proposal"/> has them (requires= kept as written),
    /// the layout renamed to <paramref name="layoutNamespace"/>, and <paramref name="preamble"/> as comment lines on top.
    /// </summary>
    public string Rewrite(Classification original, Classification proposal, string layoutNamespace, IEnumerable<string> preamble)
    {
        var lines = (string[])_lines.Clone();
        foreach (var field in proposal.Fields)
        {
            if (original.Fields[original.IndexOf(field.Encoding)] == field)
            {
                continue;
            }

            if (!_fieldLines.TryGetValue(field.Name, out var i))
            {
                throw new InvalidOperationException($"{Path}: field {field.Name} of the layout has no line in the manifest text");
            }

            lines[i] = RewriteField(lines[i], field);
        }

        if (LayoutLine >= 0)
        {
            var line = lines[LayoutLine];
            var at = line.IndexOf(Namespace, StringComparison.Ordinal);
            lines[LayoutLine] = line[..at] + layoutNamespace + line[(at + Namespace.Length)..];
        }

        var header = preamble.Select(p => p.Length == 0 ? "#" : "# " + p);
        return string.Join('\n', header.Concat(lines));
    }

    private static string RewriteField(string line, FieldChoice field)
    {
        var code = LineReader.StripComment(line);
        var comment = line[code.Length..];
        var tokens = TokensWithColumns(code);

        // NAME ENCODING [@OFFSET] stay as written, columns and all; the class and options are written anew.
        var keep = tokens.Count > 2 && tokens[2].Text.StartsWith('@') ? 3 : 2;
        var prefix = code[..(tokens[keep - 1].Column + tokens[keep - 1].Text.Length)];
        var requires = tokens.Skip(keep).Select(t => t.Text).Where(t => t.StartsWith("requires=", StringComparison.Ordinal));
        var options = new List<string> { Class(field.Class) };
        if (field.ControlShadow)
        {
            options.Add("control-shadow");
        }

        options.AddRange(requires);
        if (field.Group is { } group && field.Class != FieldClass.ShadowRw)
        {
            options.Add("group=" + group);
        }

        // Align the class column where the original line had it (or two spaces after the offset).
        var classColumn = tokens.Count > keep ? tokens[keep].Column : prefix.Length + 2;
        var text = prefix.PadRight(Math.Max(classColumn, prefix.Length + 1)) + string.Join("  ", options);
        return comment.Length == 0 ? text : text.PadRight(Math.Max(code.Length, text.Length + 1)) + comment;
    }

    public static string Class(FieldClass c) => c switch
    {
        FieldClass.ShadowRw => Classes[0],
        FieldClass.ShadowRo => Classes[1],
        FieldClass.Sync => Classes[2],
        FieldClass.RareSync => Classes[3],
        _ => Classes[4],
    };

    /// <summary>A line's tokens before its comment, with 0-based columns (the runtime's line reader counts from 1).</summary>
    private static List<(string Text, int Column)> TokensWithColumns(string code) =>
        LineReader.Tokenize(LineReader.StripComment(code)).Select(t => (t.Text, t.Column - 1)).ToList();

    private static List<string> Tokens(string line) => TokensWithColumns(line).Select(t => t.Text).ToList();
}
