using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Microsoft.CodeAnalysis.Text;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Parsing;

/// <summary>
/// Text to syntax: recognises directives and field lines, parses numbers and keywords, and reports what is
/// malformed. It decides nothing about what a field means (that is the binder's job) and never throws on bad input.
/// </summary>
internal static class ManifestParser
{
    /// <summary>The header directives (docs/MANIFEST.md).</summary>
    private static readonly HashSet<string> KnownDirectives = new(System.StringComparer.Ordinal) { "layout", "revision", "size", "header", "vmwrite-any",
        "features" };

    public static ManifestSyntax Parse(string path, SourceText text, CancellationToken cancellationToken)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var directives = new List<DirectiveSyntax>();
        var fields = new List<FieldSyntax>();
        var fileStart = text.Lines.Count > 0
            ? ManifestLexer.Locate(path, text.Lines[0], 0, 0)
            : new LocationInfo(path, default, default);

        foreach (var line in ManifestLexer.Lex(path, text, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var head = line[0];
            var first = head.Text[0];
            if (first >= 'a' && first <= 'z' && !KnownDirectives.Contains(head.Text) && head.Text.IndexOf('_') >= 0)
            {
                // Directives never contain '_' (docs/MANIFEST.md): this is a field NAME written in lower case.
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.InvalidToken, head.Location, head.Text,
                    "a field NAME is upper case ([A-Z][A-Z0-9_]*): write " + head.Text.ToUpperInvariant()));
            }
            else if (first >= 'a' && first <= 'z')
            {
                directives.Add(new DirectiveSyntax(head, line.GetRange(1, line.Count - 1).ToEquatableArray(), fields.Count > 0));
            }
            else if (first >= 'A' && first <= 'Z')
            {
                if (ParseField(line, diagnostics) is { } field)
                {
                    fields.Add(field);
                }
            }
            else
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.InvalidToken, head.Location, head.Text,
                    "a line starts with a directive (lower case) or a field NAME ([A-Z][A-Z0-9_]*)"));
            }
        }

        return new ManifestSyntax(path, directives.ToEquatableArray(), fields.ToEquatableArray(), fileStart, diagnostics.ToEquatableArray());
    }

    private static FieldSyntax? ParseField(List<SyntaxToken> line, List<DiagnosticInfo> diagnostics)
    {
        var name = line[0];
        var ok = true;
        if (!IsFieldName(name.Text))
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.InvalidToken, name.Location, name.Text, "a field NAME is [A-Z][A-Z0-9_]*"));
            ok = false;
        }

        if (line.Count < 2)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingValue, AfterToken(name), "Field " + name.Text, "ENCODING"));
            return null;
        }

        var encodingToken = line[1];
        uint encoding = 0;
        if (encodingToken.Text.StartsWith("@", System.StringComparison.Ordinal))
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.InvalidToken, encodingToken.Location, encodingToken.Text,
                "field " + name.Text + " needs its ENCODING (a number such as 0x681e) before the @OFFSET"));
            return null;
        }

        if (!TryParseNumber(encodingToken.Text, out var encodingValue) || encodingValue > uint.MaxValue)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedNumber, encodingToken.Location, encodingToken.Text,
                "the encoding of " + name.Text));
            ok = false;
        }
        else
        {
            encoding = (uint)encodingValue;
        }

        var index = 2;
        SyntaxToken? offsetToken = null;
        int? offset = null;
        if (index < line.Count && line[index].Text.StartsWith("@", System.StringComparison.Ordinal))
        {
            offsetToken = line[index++];
            if (TryParseNumber(offsetToken.Text.Substring(1), out var offsetValue) && offsetValue <= int.MaxValue)
            {
                offset = (int)offsetValue;
            }
            else
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedNumber, offsetToken.Location, offsetToken.Text,
                    "the @OFFSET of " + name.Text));
                ok = false;
            }
        }

        SyntaxToken? classToken = null, controlShadow = null, requires = null, group = null;
        FieldClass? @class = null;
        string? feature = null, groupName = null;
        for (; index < line.Count; index++)
        {
            var token = line[index];
            var text = token.Text;
            if (TryParseClass(text) is { } parsedClass)
            {
                if (classToken is not null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateClassOrOption, token.Location, name.Text, text, classToken.Text));
                    ok = false;
                }
                else
                {
                    classToken = token;
                    @class = parsedClass;
                }
            }
            else if (text == "control-shadow")
            {
                ok &= SetOnce(ref controlShadow, token, name, diagnostics);
            }
            else if (text.StartsWith("requires=", System.StringComparison.Ordinal))
            {
                ok &= SetOnce(ref requires, token, name, diagnostics);
                ok &= TryIdentifier(token, "requires=".Length, "feature", diagnostics, ref feature);
            }
            else if (text.StartsWith("group=", System.StringComparison.Ordinal))
            {
                ok &= SetOnce(ref group, token, name, diagnostics);
                ok &= TryIdentifier(token, "group=".Length, "group", diagnostics, ref groupName);
            }
            else if (text.StartsWith("@", System.StringComparison.Ordinal))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnexpectedToken, token.Location, text, "the class or options of " + name.Text +
                    " (an @OFFSET comes right after the ENCODING)"));
                ok = false;
            }
            else
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownClassOrOption, token.Location, name.Text, text));
                ok = false;
            }
        }

        return ok
            ? new FieldSyntax(name, encodingToken, encoding, offsetToken, offset, classToken, @class, controlShadow, requires, feature, group, groupName)
            : null;
    }

    private static bool SetOnce(ref SyntaxToken? slot, SyntaxToken token, SyntaxToken name, List<DiagnosticInfo> diagnostics)
    {
        if (slot is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateClassOrOption, token.Location, name.Text, token.Text, slot.Text));
            return false;
        }

        slot = token;
        return true;
    }

    private static bool TryIdentifier(SyntaxToken token, int prefixLength, string kind, List<DiagnosticInfo> diagnostics, ref string? value)
    {
        var text = token.Text.Substring(prefixLength);
        if (!IsFeatureOrGroupName(text))
        {
            var location = token.Location;
            var valueLocation = location with
            {
                Span = new TextSpan(location.Span.Start + prefixLength, text.Length),
                LineSpan = new LinePositionSpan(
                    new LinePosition(location.LineSpan.Start.Line, location.LineSpan.Start.Character + prefixLength),
                    location.LineSpan.End),
            };
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidIdentifier, valueLocation, text, kind));
            return false;
        }

        value = text;
        return true;
    }

    /// <summary>A zero-width location right after a token, for "missing X" diagnostics.</summary>
    public static LocationInfo AfterToken(SyntaxToken token)
    {
        var l = token.Location;
        return l with
        {
            Span = new TextSpan(l.Span.End, 0),
            LineSpan = new LinePositionSpan(l.LineSpan.End, l.LineSpan.End),
        };
    }

    public static FieldClass? TryParseClass(string text) => text switch
    {
        "shadow-rw" => FieldClass.ShadowRw,
        "shadow-ro" => FieldClass.ShadowRo,
        "sync" => FieldClass.Sync,
        "rare-sync" => FieldClass.RareSync,
        "no-sync" => FieldClass.NoSync,
        _ => null,
    };

    /// <summary>Decimal or 0x hex, no sign, no separators; false on anything else or on overflow.</summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        value = 0;
        if (text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        {
            var digits = text.Substring(2);
            foreach (var c in digits)
            {
                if (!IsHexDigit(c))
                {
                    return false;
                }
            }

            return ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        if (text.Length == 0)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c < '0' || c > '9')
            {
                return false;
            }
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public static bool IsFieldName(string text)
    {
        if (text.Length == 0 || text[0] < 'A' || text[0] > 'Z')
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// <c>[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*</c>, not <c>none</c> or <c>all</c>: every segment starts with a letter, so the
    /// PascalCase C# names of two different names never collide, and never collide with the None/All members.
    /// </summary>
    public static bool IsFeatureOrGroupName(string text)
    {
        if (text is "none" or "all")
        {
            return false;
        }

        var atSegmentStart = true;
        foreach (var c in text)
        {
            if (c == '-')
            {
                if (atSegmentStart)
                {
                    return false;
                }

                atSegmentStart = true;
                continue;
            }

            var ok = atSegmentStart ? c >= 'a' && c <= 'z' : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (!ok)
            {
                return false;
            }

            atSegmentStart = false;
        }

        return text.Length > 0 && !atSegmentStart;
    }

    private static bool IsHexDigit(char c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
