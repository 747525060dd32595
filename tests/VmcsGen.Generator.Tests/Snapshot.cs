using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>
/// Verify-style snapshots without Verify: one <c>Snapshots/{Class}.{Method}[_{param}]#{HintName}.verified.cs</c> per
/// generated source and a <c>.verified.txt</c> for diagnostics. A mismatch writes <c>.received.*</c> beside it and fails
/// with a unified diff; <c>VMCSGEN_ACCEPT=1</c> promotes received files (refused when <c>CI=true</c>).
/// </summary>
internal static partial class Snapshot
{
    public static void Verify(
        GeneratorRun run,
        string? manifestText = null,
        string? parameter = null,
        [CallerFilePath] string callerFile = "",
        [CallerMemberName] string method = "")
    {
        var directory = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        var prefix = Path.GetFileNameWithoutExtension(callerFile) + "." + method + (parameter is null ? string.Empty : "_" + parameter);
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in run.Sources)
        {
            var hint = source.HintName.EndsWith(".cs", StringComparison.Ordinal) ? source.HintName[..^3] : source.HintName;
            expected[prefix + "#" + hint + ".verified.cs"] = Scrub(source.SourceText.ToString());
        }

        if (run.Diagnostics.Length > 0)
        {
            expected[prefix + ".verified.txt"] = string.Join("\n", run.Diagnostics.Select(d => TestHelpers.Render(d, manifestText))) + "\n";
        }

        var failures = new List<string>();
        var accept = Environment.GetEnvironmentVariable("VMCSGEN_ACCEPT") == "1";
        if (accept && string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("VMCSGEN_ACCEPT=1 is refused under CI=true: accept snapshots on a developer machine and commit them.");
        }

        Directory.CreateDirectory(directory);
        foreach (var (name, text) in expected.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var verified = Path.Combine(directory, name);
            var received = verified.Replace(".verified.", ".received.", StringComparison.Ordinal);
            var current = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
            if (current == text)
            {
                File.Delete(received);
                continue;
            }

            if (accept)
            {
                File.WriteAllText(verified, text, new UTF8Encoding(false));
                File.Delete(received);
                continue;
            }

            File.WriteAllText(received, text, new UTF8Encoding(false));
            failures.Add(current is null ? $"{name}: no verified snapshot; see {Path.GetFileName(received)}" : $"{name} differs:\n{Diff(current, text)}");
        }

        foreach (var stale in Directory.EnumerateFiles(directory, prefix + "#*.verified.cs").Concat(
            Directory.EnumerateFiles(directory, prefix + ".verified.txt")))
        {
            var name = Path.GetFileName(stale);
            if (!expected.ContainsKey(name))
            {
                if (accept)
                {
                    File.Delete(stale);
                }
                else
                {
                    failures.Add($"Generated file set mismatch: {name} is verified but was not generated.");
                }
            }
        }

        if (failures.Count > 0)
        {
            Assert.Fail(string.Join("\n\n", failures) + "\n\nReview the .received files; accept with VMCSGEN_ACCEPT=1 dotnet test.");
        }
    }

    /// <summary>The generator version changes with every release; snapshots hold %VERSION%.</summary>
    public static string Scrub(string text) =>
        VersionPattern().Replace(text.TrimStart('\uFEFF').Replace("\r\n", "\n"), "GeneratedCode(\"VmcsGen\", \"%VERSION%\")");

    private static string Diff(string verified, string received)
    {
        var diff = InlineDiffBuilder.Diff(verified, received, ignoreWhiteSpace: false);
        var builder = new StringBuilder();
        builder.AppendLine("--- verified").AppendLine("+++ received");
        var shown = 0;
        for (var i = 0; i < diff.Lines.Count && shown < 80; i++)
        {
            var line = diff.Lines[i];
            if (line.Type == ChangeType.Unchanged)
            {
                continue;
            }

            builder.Append(line.Type == ChangeType.Deleted ? "-" : "+").Append(line.Position is { } p ? $"{p,5}: " : "       ").AppendLine(line.Text);
            shown++;
        }

        return builder.ToString();
    }

    [GeneratedRegex("GeneratedCode\\(\"VmcsGen\", \"[^\"]*\"\\)")]
    private static partial Regex VersionPattern();
}
