using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace VmcsGen.Runtime.Tests;

/// <summary>Reads the reference TSVs copied into tests/Reference (see its README for their sources).</summary>
internal static class Reference
{
    public static IReadOnlyList<Dictionary<string, string>> Read(string fileName)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", fileName))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToList();
        var header = lines[0].Split('\t');
        return lines.Skip(1)
            .Select(l => l.Split('\t'))
            .Select(cells => header.Select((h, i) => (h, v: i < cells.Length ? cells[i] : string.Empty)).ToDictionary(x => x.h, x => x.v))
            .ToList();
    }

    public static uint Hex(string text) => uint.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>vmcs-fields.tsv rows: name, encoding, vmcs12 offset (null when KVM's vmcs12 lacks the field).</summary>
    public static IEnumerable<(string Name, uint Encoding, int? Offset, Dictionary<string, string> Row)> Fields() =>
        Read("vmcs-fields.tsv").Select(r => (r["name"], Hex(r["encoding"]), r["vmcs12_offset"].Length == 0 ? (int?)null : int.Parse(r["vmcs12_offset"],
            CultureInfo.InvariantCulture), r));

    /// <summary>Every encoding KVM's vmcs12 supports (full and _HIGH forms) with its offset.</summary>
    public static Dictionary<uint, int> KvmOffsets() =>
        Fields().Where(f => f.Offset is not null).ToDictionary(f => f.Encoding, f => f.Offset!.Value);
}
