using System;
using System.Globalization;

namespace VmcsGen.Tracing;

/// <summary>A whitespace-separated word of a line and the 1-based column where it starts.</summary>
public readonly record struct LineToken(string Text, int Column)
{
    /// <summary>The column just after the token (where a missing next token would start).</summary>
    public int EndColumn => Column + Text.Length;

    /// <summary>The token as a number: <c>0x</c> and hex digits, or decimal digits (no sign, no spaces).</summary>
    public bool TryNumber(out ulong value) => TryParseNumber(Text, out value);

    /// <summary>A number as the text formats write it: <c>0x</c> and hex digits, or decimal digits.</summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
