using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace VmcsGen.Samples.BochsVmx;

/// <summary>A usage error: one line, exit status 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>--name value options of a verb.</summary>
internal sealed class Options
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public bool Json => Text("format", "table") switch
    {
        "json" => true,
        "table" => false,
        var other => throw new UsageException($"--format: '{other}' is not table or json"),
    };

    public static Options Parse(string[] args)
    {
        var options = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2)
            {
                throw new UsageException($"unexpected argument '{args[i]}'");
            }

            if (i + 1 >= args.Length)
            {
                throw new UsageException($"{args[i]} needs a value");
            }

            options._values[args[i][2..]] = args[++i];
        }

        return options;
    }

    /// <summary>Rejects options the verb does not know.</summary>
    public void Only(params string[] known)
    {
        foreach (var name in _values.Keys.Where(k => !known.Contains(k)))
        {
            throw new UsageException($"unknown option --{name} (this verb takes {string.Join(", ", known.Select(k => "--" + k))})");
        }
    }

    public string Text(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public int Int(string name, int fallback, int minimum) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= minimum ? n
        : throw new UsageException($"--{name}: '{v}' is not an integer >= {minimum}");
}
