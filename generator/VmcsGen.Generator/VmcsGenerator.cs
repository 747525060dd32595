using System.Linq;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Emit;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Semantics;

namespace VmcsGen.Generator;

/// <summary>
/// Turns each <c>*.vmcs</c> manifest among the AdditionalFiles into the C# of its layout.
/// Stages: parse → bind and validate → model → emit. Source and diagnostics are separate outputs, so an edit
/// that changes only positions (a comment, blank lines) re-reports diagnostics but regenerates nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class VmcsGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var syntax = context.AdditionalTextsProvider
            .Where(static text => ManifestFiles.IsManifest(text.Path))
            .Select(static (text, ct) => ManifestFiles.Parse(text, ct))
            .WithTrackingName(TrackingNames.Manifests);

        var bound = syntax
            .Select(static (manifest, ct) => ManifestBinder.Bind(manifest, ct))
            .WithTrackingName(TrackingNames.Bound);

        var models = bound
            .Select(static (result, _) => result.Manifest)
            .WithTrackingName(TrackingNames.Models);

        var recompile = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) => options.GlobalOptions.TryGetValue(ReferenceInfo.RecompileOption, out var value)
                && string.Equals(value, "true", System.StringComparison.OrdinalIgnoreCase));

        var references = context.CompilationProvider
            .Select(static (compilation, _) => ReferenceInfo.From(compilation))
            .Combine(recompile)
            .Select(static (input, _) => input.Right ? input.Left with { Layouts = EquatableArray<ReferencedLayout>.Empty } : input.Left)
            .WithTrackingName(TrackingNames.CompilationDetails);

        // Which manifests generate (the first by path per layout namespace, none a reference already holds): only their
        // paths, so an edit inside one manifest leaves this Unchanged and every other manifest's output Cached.
        var winners = models
            .Collect()
            .Combine(references)
            .Select(static (input, _) => ManifestSet.Distinct(input.Left, input.Right).Select(m => m.FilePath).ToEquatableArray())
            .WithTrackingName(TrackingNames.Winners);

        // One source output per manifest (NetEscapades.EnumGenerators' pattern): editing one regenerates only its files.
        var sources = models
            .Combine(winners)
            .Select(static (input, _) => input.Left is { } manifest && input.Right.Contains(manifest.FilePath) ? manifest : null)
            .WithTrackingName(TrackingNames.Sources);

        var diagnostics = bound
            .Select(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);

        var layoutDiagnostics = bound
            .Select(static (result, _) => result.Layout)
            .Collect()
            .Combine(references)
            .Select(static (input, _) => ManifestSet.Check(input.Left, input.Right))
            .WithTrackingName(TrackingNames.Layouts);

        context.RegisterSourceOutput(sources, static (spc, manifest) => SourceEmitter.Emit(spc, manifest));
        context.RegisterSourceOutput(diagnostics, static (spc, list) => Report(spc, Cap(list)));
        context.RegisterSourceOutput(layoutDiagnostics, static (spc, list) => Report(spc, list));
    }

    /// <summary>Diagnostics shown per manifest; past them one VMCS0014 counts the rest (a binary file could give thousands).</summary>
    public const int MaxDiagnosticsPerFile = 100;

    private static EquatableArray<DiagnosticInfo> Cap(EquatableArray<DiagnosticInfo> diagnostics)
    {
        if (diagnostics.Length <= MaxDiagnosticsPerFile)
        {
            return diagnostics;
        }

        var shown = diagnostics.Take(MaxDiagnosticsPerFile).ToList();
        var next = diagnostics[MaxDiagnosticsPerFile];
        var file = System.IO.Path.GetFileName(next.Location?.FilePath ?? "the manifest");
        shown.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyErrors, next.Location, diagnostics.Length - MaxDiagnosticsPerFile, file,
            MaxDiagnosticsPerFile));
        return shown.ToEquatableArray();
    }

    private static void Report(SourceProductionContext context, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            context.ReportDiagnostic(diagnostic.ToDiagnostic());
        }
    }
}
