using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

// Running the VmcsGen generator in memory, as `dotnet build` runs it: one source, linked into each host of the generator
// (the generator tests and NestedSim's advisor) and compiled there as internal types, never into the generator itself.
namespace VmcsGen.Generator;

/// <summary>Builds the compilation and the generator driver that run <see cref="VmcsGenerator"/> over in-memory manifests.</summary>
internal static class GeneratorRunner
{
    /// <summary>The MSBuild property that lets a layout share its namespace with one the runtime already ships (kvm.vmcs).</summary>
    public const string RecompileReferencedLayouts = "build_property.VmcsGenRecompileReferencedLayouts";

    private static readonly Lazy<ImmutableArray<MetadataReference>> PlatformReferences = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray());

    private static readonly Lazy<ImmutableArray<MetadataReference>> RuntimeReferences = new(() =>
        PlatformReferences.Value.Add(MetadataReference.CreateFromFile(typeof(global::VmcsGen.LayoutHandle).Assembly.Location)));

    /// <summary>The language version the generator's output is parsed and compiled with.</summary>
    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Latest);

    /// <summary>The platform's System.* assemblies, and the VmcsGen runtime when <paramref name="withRuntime"/>.</summary>
    public static ImmutableArray<MetadataReference> References(bool withRuntime = true) =>
        withRuntime ? RuntimeReferences.Value : PlatformReferences.Value;

    /// <summary>A library compilation of <paramref name="sources"/> (nullable enabled) that the generator runs over.</summary>
    public static CSharpCompilation CreateCompilation(
        string assemblyName,
        IEnumerable<string> sources,
        bool withRuntime = true,
        OptimizationLevel optimizationLevel = OptimizationLevel.Debug) =>
        CSharpCompilation.Create(
            assemblyName,
            sources.Select(s => CSharpSyntaxTree.ParseText(s, ParseOptions)),
            References(withRuntime),
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                optimizationLevel: optimizationLevel));

    /// <summary>
    /// A driver over the manifests; <paramref name="recompileReferencedLayouts"/> sets VmcsGenRecompileReferencedLayouts as
    /// a project compiling kvm.vmcs itself would (false is what a user project sees).
    /// </summary>
    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> manifests, bool recompileReferencedLayouts, bool trackIncrementalSteps = false) =>
        CSharpGeneratorDriver.Create(
            [new VmcsGenerator().AsSourceGenerator()],
            manifests,
            ParseOptions,
            optionsProvider: recompileReferencedLayouts ? new GlobalOptionsProvider(RecompileReferencedLayouts, "true") : null,
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackIncrementalSteps));
}
