using System;
using System.Collections.Generic;

namespace VmcsGen.Tracing;

/// <summary>
/// One line of a trace as <see cref="TraceReader"/> read it. <paramref name="Name"/> is the field (its manifest name, or
/// its encoding as <c>0x…</c> when the recording layout did not name it) or the event's name; <paramref name="Value"/>
/// the value, the address, or the exit reason (null for <c>exit ?</c>, a failed <c>read</c>, and lines without one).
/// </summary>
/// <param name="Kind">What the line records.</param>
/// <param name="Name">The field or event name; null for lines without one.</param>
/// <param name="Value">The line's number, if it has one.</param>
/// <param name="Failed">The line ends in <c>fail</c>.</param>
/// <param name="Line">The 1-based line number.</param>
/// <param name="Column">Where the keyword starts.</param>
/// <param name="NameColumn">Where <paramref name="Name"/> starts (else where the value starts; else <paramref name="Column"/>).</param>
public sealed record TraceEvent(TraceEventKind Kind, string? Name, ulong? Value, bool Failed, int Line, int Column, int NameColumn)
{
    /// <summary>
    /// The encoding of <see cref="Name"/>: a name in <paramref name="names"/> (e.g. built from a layout's
    /// <see cref="LayoutHandle.Fields"/>), or a <c>0x…</c> encoding as written.
    /// </summary>
    public bool TryEncoding(IReadOnlyDictionary<string, uint> names, out uint encoding)
    {
        ArgumentNullException.ThrowIfNull(names);
        encoding = 0;
        if (Name is null)
        {
            return false;
        }

        if (names.TryGetValue(Name, out encoding))
        {
            return true;
        }

        if (Name.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && LineToken.TryParseNumber(Name, out var number) && number <= uint.MaxValue)
        {
            encoding = (uint)number;
            return true;
        }

        return false;
    }
}
