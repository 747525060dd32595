using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using Microsoft.CodeAnalysis;
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
    private static int _assemblies;

    public static CompiledManifest Compile(string path, string text)
    {
        var compilation = GeneratorRunner.CreateCompilation(
            $"VmcsGen.Advised{Interlocked.Increment(ref _assemblies).ToString(CultureInfo.InvariantCulture)}",
            [],
            optimizationLevel: OptimizationLevel.Release);
        var driver = GeneratorRunner.CreateDriver([new InMemoryAdditionalText(path, text)], recompileReferencedLayouts: true);
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
}
