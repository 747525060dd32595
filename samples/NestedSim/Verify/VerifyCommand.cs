using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim.Verify;

/// <summary>verify's options, as the command line (Cli/VerifyVerb.cs) checked them.</summary>
public sealed record VerifyOptions(string Manifest, int Sequences, int Seed, string Format)
{
    public const int MaxSequences = 1_000_000;
}

/// <summary>
/// <c>verify</c>: compiles a manifest in process (its diagnostics first), then runs <see cref="ManifestVerifier"/> on the
/// engine built from it. Exit 0 clean; 1 unsound (a generator error, so nothing to run, or a divergence); 2 bad input.
/// </summary>
public static class VerifyCommand
{
    public const int Unsound = 1;

    public static int Run(VerifyOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var (path, text) = Load(o.Manifest);
        var compiled = Compile(path, text);
        var ids = compiled.Diagnostics.Select(IdOf).Where(id => id is not null).Select(id => id!).ToList();
        var json = o.Format == "json";
        if (!json)
        {
            Console.WriteLine($"verify {Path.GetFileName(path)}: " +
                $"{(compiled.Diagnostics.Count == 0 ? "the generator reports nothing" : $"{compiled.Diagnostics.Count} diagnostic(s) from the generator")}");
            foreach (var line in compiled.Diagnostics)
            {
                Console.WriteLine("  " + line);
            }
        }

        if (compiled.HasErrors || compiled.Layout is null)
        {
            if (json)
            {
                Console.WriteLine(Json(path, o, null, ids, compiled.Diagnostics));
            }
            else
            {
                Console.WriteLine("not run: the manifest has errors, so no engine can be built from it (unsound as written)");
            }

            return Unsound;
        }

        var clock = Stopwatch.StartNew();
        var showProgress = !json && !Console.IsErrorRedirected;
        var step = Math.Max(1, o.Sequences / 20);
        var report = ManifestVerifier.Run(compiled.Layout, o.Sequences, o.Seed, progress: done =>
        {
            if (showProgress && (done % step == 0 || done == o.Sequences))
            {
                Console.Error.Write($"\rverify: {done}/{o.Sequences} sequences");
                if (done == o.Sequences)
                {
                    Console.Error.WriteLine();
                }
            }
        });
        clock.Stop();

        if (json)
        {
            Console.WriteLine(Json(path, o, report, ids, compiled.Diagnostics));
        }
        else
        {
            Print(report, o, clock.Elapsed);
        }

        return report.Clean ? Program.Ran : Unsound;
    }

    /// <summary>
    /// The manifest compiled in process, without the compiler's CS0436 warnings: recompiling a layout the runtime already
    /// holds (kvm) duplicates its types, an artifact of compiling in process, not a finding about the manifest.
    /// </summary>
    public static CompiledManifest Compile(string path, string text)
    {
        var compiled = ManifestCompiler.Compile(path, text);
        return compiled with { Diagnostics = compiled.Diagnostics.Where(d => !d.Contains(" warning CS0436:", StringComparison.Ordinal)).ToList() };
    }

    /// <summary>A file, or a manifest shipped in fields/ by name (with or without .vmcs).</summary>
    private static (string Path, string Text) Load(string nameOrPath)
    {
        var path = nameOrPath;
        if (!File.Exists(path))
        {
            var shipped = Path.Combine(AppContext.BaseDirectory, "fields", nameOrPath.EndsWith(".vmcs", StringComparison.Ordinal) ? nameOrPath : nameOrPath +
                ".vmcs");
            if (!File.Exists(shipped) || nameOrPath.Contains('/', StringComparison.Ordinal) || nameOrPath.Contains('\\', StringComparison.Ordinal))
            {
                var names = Directory.Exists(Path.Combine(AppContext.BaseDirectory, "fields"))
                    ? Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "fields"),
                        "*.vmcs").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList()
                    : new List<string?>();
                throw new ArgumentException($"--manifest {nameOrPath}: neither a shipped manifest ({string.Join(", ", names)}) nor a file");
            }

            path = shipped;
        }

        try
        {
            return (path, File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--manifest {nameOrPath}: cannot read it ({e.Message})");
        }
    }

    /// <summary>The ID of a rendered diagnostic line (<c>file(l,c): severity ID: message</c>).</summary>
    private static string? IdOf(string line)
    {
        var at = line.IndexOf(" VMCS", StringComparison.Ordinal);
        var cs = line.IndexOf(" CS", StringComparison.Ordinal);
        var start = at >= 0 ? at : cs;
        if (start < 0)
        {
            return null;
        }

        var end = line.IndexOf(':', start);
        return end > start ? line[(start + 1)..end] : null;
    }

    private static void Print(VerifyReport report, VerifyOptions o, TimeSpan elapsed)
    {
        foreach (var note in report.Excluded)
        {
            Console.WriteLine("  note: " + note);
        }

        var seconds = elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        if (report.Clean)
        {
            Console.WriteLine($"clean: {report.Sequences.ToString("N0", CultureInfo.InvariantCulture)} sequences, " +
                $"{report.Events.ToString("N0", CultureInfo.InvariantCulture)} events ({report.L2Exits.ToString("N0", CultureInfo.InvariantCulture)} L2 " +
                $"exits), engine = reference (seed {o.Seed}, {seconds} s)");
            return;
        }

        var first = report.First!;
        var d = first.Divergence;
        Console.WriteLine($"DIVERGENT: {report.Divergences} of {report.Sequences} sequences (seed {o.Seed}, {seconds} s)");
        Console.WriteLine(d.Field is null
            ? $"first, in sequence {first.Sequence}, minimised to {first.Events.Count} events:"
            : $"first, in sequence {first.Sequence}: field {d.Field} ({d.Class}), minimised to {first.Events.Count} events:");
        for (var i = 0; i < first.Events.Count; i++)
        {
            Console.WriteLine($"  {i + 1,3}. {first.Events[i]}");
        }

        Console.WriteLine($"  at {d.Event}: {d.Difference}");
    }

    private static string Json(string path, VerifyOptions o, VerifyReport? report, IReadOnlyList<string> ids, IReadOnlyList<string> diagnostics)
    {
        var first = report?.First;
        var value = new Dictionary<string, object?>
        {
            ["manifest"] = path,
            ["seed"] = o.Seed,
            ["sequences"] = report?.Sequences ?? 0,
            ["events"] = report?.Events ?? 0,
            ["divergences"] = report?.Divergences ?? 0,
            ["diagnostics"] = ids,
            ["diagnosticLines"] = diagnostics,
            ["excluded"] = report?.Excluded ?? [],
            ["first"] = first is null
                ? null
                : new Dictionary<string, object?>
                {
                    ["sequence"] = first.Sequence,
                    ["field"] = first.Divergence.Field,
                    ["class"] = first.Divergence.Class,
                    ["at"] = first.Divergence.Event,
                    ["difference"] = first.Divergence.Difference,
                    ["events"] = first.Events,
                },
        };
        return JsonSerializer.Serialize(value, new JsonSerializerOptions { WriteIndented = true });
    }
}
