using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using VmcsGen.Generator;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>What compiling one manifest gave: the generator's and the compiler's diagnostics, and the layout when it built.</summary>
/// <param name="Diagnostics">Each as <c>file(line,col): severity ID: message</c>, in source order.</param>
public sealed record CompiledManifest(LayoutHandle? Layout, IReadOnlyList<string> Diagnostics, bool HasErrors);

/// <summary>
/// Compiles a manifest the way <c>dotnet build</c> does — the real VmcsGen generator, then Roslyn over what it generated —
/// but in process, into a loaded assembly, so the advisor can build the manifest it proposes and run its engine. The
/// layout may share its namespace with one already compiled (the runtime's Kvm): the build opts into
/// <c>VmcsGenRecompileReferencedLayouts</c>, as a project that compiles kvm.vmcs itself would.
/// </summary>
public static class ManifestCompiler
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(LayoutHandle).Assembly.Location))
            .ToImmutableArray());

    private static int _assemblies;

    public static CompiledManifest Compile(string path, string text)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create(
            $"VmcsGen.Advised{Interlocked.Increment(ref _assemblies).ToString(CultureInfo.InvariantCulture)}",
            [],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, optimizationLevel: OptimizationLevel.Release));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new VmcsGenerator().AsSourceGenerator()],
            [new ManifestFile(path, text)],
            parse,
            new RecompileOption());
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);

        var diagnostics = generatorDiagnostics.ToList();
        var generatorErrors = diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
        if (!generatorErrors)
        {
            diagnostics.AddRange(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        }

        var lines = diagnostics
            .OrderBy(d => d.Location.GetLineSpan().StartLinePosition.Line)
            .Select(Render)
            .ToList();
        var hasErrors = diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
        if (hasErrors)
        {
            return new CompiledManifest(null, lines, true);
        }

        using var image = new MemoryStream();
        var emit = output.Emit(image);
        if (!emit.Success)
        {
            return new CompiledManifest(null, [.. lines, .. emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(Render)], true);
        }

        var assembly = Assembly.Load(image.ToArray());
        var layout = LayoutHandle.Discover(assembly).SingleOrDefault();
        return new CompiledManifest(layout, lines, layout is null);
    }

    private static string Render(Diagnostic d)
    {
        var span = d.Location.GetLineSpan();
        var where = span.Path is { Length: > 0 } p
            ? $"{p}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): "
            : string.Empty;
        return $"{where}{d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(CultureInfo.InvariantCulture)}";
    }

    private sealed class ManifestFile(string path, string text) : AdditionalText
    {
        private readonly SourceText _text = SourceText.From(text);

        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    /// <summary>The MSBuild property VmcsGenRecompileReferencedLayouts=true, as the build passes it to the generator.</summary>
    private sealed class RecompileOption : AnalyzerConfigOptionsProvider
    {
        private static readonly Options Global = new("build_property.VmcsGenRecompileReferencedLayouts", "true");
        private static readonly Options None = new(null, null);

        public override AnalyzerConfigOptions GlobalOptions => Global;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => None;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => None;

        private sealed class Options(string? key, string? value) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string name, [NotNullWhen(true)] out string? result)
            {
                result = name == key ? value : null;
                return result is not null;
            }
        }
    }
}
