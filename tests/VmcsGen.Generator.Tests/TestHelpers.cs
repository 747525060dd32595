using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

internal static class TestHelpers
{
    public static string FieldsDirectory => System.IO.Path.Combine(AppContext.BaseDirectory, "fields");

    public static string ReadShippedManifest(string fileName) => File.ReadAllText(System.IO.Path.Combine(FieldsDirectory, fileName));

    public static CSharpCompilation CreateCompilation(bool withRuntime = true, params string[] sources) =>
        GeneratorRunner.CreateCompilation("VmcsGen.TestAssembly", sources, withRuntime);

    /// <summary>
    /// A driver over the manifests. By default it sets VmcsGenRecompileReferencedLayouts, so fields/kvm.vmcs can be compiled
    /// next to the runtime that already ships it (the snapshot tests); <paramref name="recompileReferencedLayouts"/> false
    /// is what a user project sees.
    /// </summary>
    public static GeneratorDriver CreateDriver(AdditionalText[] manifests, bool recompileReferencedLayouts = true) =>
        GeneratorRunner.CreateDriver(manifests, recompileReferencedLayouts, trackIncrementalSteps: true);

    public static GeneratorDriver CreateDriver(params AdditionalText[] manifests) => CreateDriver(manifests, recompileReferencedLayouts: true);

    /// <summary>Runs the generator once; fails on any exception the generator threw.</summary>
    public static GeneratorRun Run(params (string Path, string Text)[] manifests) =>
        Run(CreateCompilation(), manifests);

    public static GeneratorRun Run(CSharpCompilation compilation, params (string Path, string Text)[] manifests) => Run(compilation, true, manifests);

    public static GeneratorRun Run(CSharpCompilation compilation, bool recompileReferencedLayouts, params (string Path, string Text)[] manifests)
    {
        var driver = CreateDriver(manifests.Select(m => (AdditionalText)new InMemoryAdditionalText(m.Path, m.Text)).ToArray(), recompileReferencedLayouts);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var result = driver.GetRunResult();
        foreach (var generator in result.Results)
        {
            Assert.That(generator.Exception, Is.Null, "the generator threw");
        }

        return new GeneratorRun(driver, result, output);
    }

    /// <summary>
    /// Diagnostics of compiling the generated code; CS0436 is expected only when kvm.vmcs is compiled again next to the runtime that ships it.
    /// </summary>
    public static IReadOnlyList<Diagnostic> OutputProblems(Compilation output, bool allowRuntimeConflict = false) =>
        output.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Where(d => !(allowRuntimeConflict && d.Id == "CS0436"))
            .ToList();

    public static string Render(Diagnostic diagnostic, string? text)
    {
        var span = diagnostic.Location.GetLineSpan();
        var severity = diagnostic.Severity.ToString().ToLowerInvariant();
        var line = $"{System.IO.Path.GetFileName(span.Path)}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): " +
            $"{severity} {diagnostic.Id}: {diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
        if (text is null || !diagnostic.Location.IsInSource && diagnostic.Location.Kind != LocationKind.ExternalFile)
        {
            return line;
        }

        var lines = text.Replace("\r\n", "\n").Split('\n');
        var lineIndex = span.StartLinePosition.Line;
        if (lineIndex >= lines.Length)
        {
            return line;
        }

        var source = lines[lineIndex];
        var start = span.StartLinePosition.Character;
        var end = span.EndLinePosition.Line == lineIndex ? span.EndLinePosition.Character : source.Length;
        var carets = new string(' ', start) + new string('^', Math.Max(1, end - start));
        return line + "\n    " + source + "\n    " + carets;
    }

    /// <summary>(line,col)-(line,col), 1-based, as a user sees it in the build output.</summary>
    public static string SpanText(Diagnostic diagnostic)
    {
        var span = diagnostic.Location.GetLineSpan();
        return $"({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})-" +
            $"({span.EndLinePosition.Line + 1},{span.EndLinePosition.Character + 1})";
    }
}

public sealed record GeneratorRun(GeneratorDriver Driver, GeneratorDriverRunResult Result, Compilation Output)
{
    public ImmutableArray<Diagnostic> Diagnostics => Result.Diagnostics;

    public ImmutableArray<GeneratedSourceResult> Sources => Result.Results.Single().GeneratedSources;
}
