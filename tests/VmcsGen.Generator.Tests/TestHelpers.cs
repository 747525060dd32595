using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>An in-memory manifest handed to the generator as an AdditionalFile.</summary>
internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

internal static class TestHelpers
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(System.IO.Path.PathSeparator);
        return trusted
            .Where(p => System.IO.Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || System.IO.Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(VmxResult).Assembly.Location))
            .ToImmutableArray();
    });

    public static string FieldsDirectory => System.IO.Path.Combine(AppContext.BaseDirectory, "fields");

    public static string ReadShippedManifest(string fileName) => File.ReadAllText(System.IO.Path.Combine(FieldsDirectory, fileName));

    public static CSharpCompilation CreateCompilation(bool withRuntime = true, params string[] sources) =>
        CSharpCompilation.Create(
            "VmcsGen.TestAssembly",
            sources.Select(s => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest))),
            withRuntime ? References.Value : References.Value.RemoveAt(References.Value.Length - 1),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>
    /// A driver over the manifests. By default it sets VmcsGenRecompileReferencedLayouts, so fields/kvm.vmcs can be compiled
    /// next to the runtime that already ships it (the snapshot tests); <paramref name="recompileReferencedLayouts"/> false
    /// is what a user project sees.
    /// </summary>
    public static GeneratorDriver CreateDriver(AdditionalText[] manifests, bool recompileReferencedLayouts = true) =>
        CSharpGeneratorDriver.Create(
            [new VmcsGenerator().AsSourceGenerator()],
            manifests,
            new CSharpParseOptions(LanguageVersion.Latest),
            optionsProvider: recompileReferencedLayouts ? new GlobalOptionsProvider("build_property.VmcsGenRecompileReferencedLayouts", "true") : null,
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

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

    /// <summary>Diagnostics of compiling the generated code; CS0436 is expected only when kvm.vmcs is compiled again next to the runtime that ships it.</summary>
    public static IReadOnlyList<Diagnostic> OutputProblems(Compilation output, bool allowRuntimeConflict = false) =>
        output.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Where(d => !(allowRuntimeConflict && d.Id == "CS0436"))
            .ToList();

    public static string Render(Diagnostic diagnostic, string? text)
    {
        var span = diagnostic.Location.GetLineSpan();
        var severity = diagnostic.Severity.ToString().ToLowerInvariant();
        var line = $"{System.IO.Path.GetFileName(span.Path)}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): {severity} {diagnostic.Id}: {diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
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
        return $"({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})-({span.EndLinePosition.Line + 1},{span.EndLinePosition.Character + 1})";
    }
}

public sealed record GeneratorRun(GeneratorDriver Driver, GeneratorDriverRunResult Result, Compilation Output)
{
    public ImmutableArray<Diagnostic> Diagnostics => Result.Diagnostics;

    public ImmutableArray<GeneratedSourceResult> Sources => Result.Results.Single().GeneratedSources;
}

/// <summary>Global analyzer-config options with one key, as MSBuild passes a CompilerVisibleProperty.</summary>
internal sealed class GlobalOptionsProvider(string key, string value) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptionsProvider
{
    private readonly Options _options = new(key, value);

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GlobalOptions => _options;

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(string? key, string? value) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(null, null);

        public override bool TryGetValue(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? result)
        {
            result = name == key ? value : null;
            return result is not null;
        }
    }
}
