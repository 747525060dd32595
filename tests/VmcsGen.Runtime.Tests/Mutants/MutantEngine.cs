using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Nested;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests.Mutants;

/// <summary>
/// Builds NestedVmx with a planted bug: the shipped engine's source files (embedded in this assembly by the project file)
/// with one <see cref="EngineMutation"/> applied, compiled in memory by Roslyn against the runtime, once per mutation.
/// </summary>
internal static class MutantEngine
{
    /// <summary>
    /// The mutant is compiled under this assembly's name, so that the runtime's InternalsVisibleTo grant to the tests covers
    /// the engine's internal helpers (CountingVmcs, HostStateLoad, …); it is loaded into a context of its own.
    /// </summary>
    private static readonly string AssemblyName = typeof(MutantEngine).Assembly.GetName().Name!;

    private const string ResourcePrefix = "Engine/";
    private const string Namespace = "namespace VmcsGen.Nested;";
    private const string MutantNamespace = "VmcsGen.Nested.Mutant";

    /// <summary>The shipped engine's source files (runtime/VmcsGen.Runtime/Nested/NestedVmx*.cs), by file name.</summary>
    public static IReadOnlyDictionary<string, string> Sources { get; } = ReadSources();

    /// <summary>
    /// The shipped engine as a compilation (never emitted; in a namespace of its own, so a mutant never stands for the
    /// runtime's NestedVmx, with the rest of VmcsGen.Nested in scope): a mutant replaces the file its edit touches and
    /// shares the rest, the references' symbols included.
    /// </summary>
    private static readonly Lazy<CSharpCompilation> Shipped = new(() => CSharpCompilation.Create(
        AssemblyName,
        Sources.Select(source => Parse(source.Key, source.Value)),
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(path => Path.GetFileName(path).StartsWith("System.", StringComparison.Ordinal))
            .Append(typeof(INestedEngine).Assembly.Location)
            .Select(path => MetadataReference.CreateFromFile(path)),
        new CSharpCompilationOptions(
            OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable)));

    private static readonly ConcurrentDictionary<EngineMutation, Lazy<Assembly>> Built = new();

    /// <summary>A factory of engines of one layout on a fresh processor, as SoftwareNested.Create, built with the bug.</summary>
    public static Func<NestedVmxOptions, INestedEngine> Factory<TLayout, TControls>(EngineMutation mutation)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var assembly = Built.GetOrAdd(mutation, m => new Lazy<Assembly>(() => Compile(m))).Value;
        var type = assembly.GetType(MutantNamespace + ".NestedVmx`3", throwOnError: true)!
            .MakeGenericType(typeof(TLayout), typeof(TControls), typeof(SoftwareVmcs));
        var constructor = type.GetConstructor([typeof(SoftwareVmcs), typeof(ulong), typeof(ulong), typeof(ulong), typeof(NestedVmxOptions)])
            ?? throw new MissingMethodException(type.FullName, "the constructor SoftwareNested.Create calls");
        return options => (INestedEngine)constructor.Invoke(
            [SoftwareNested.CreateProcessor().Vmcs, SoftwareNested.Vmcs01, SoftwareNested.Vmcs02, SoftwareNested.Shadow, options]);
    }

    private static Assembly Compile(EngineMutation mutation)
    {
        var shipped = Shipped.Value;
        var compilation = shipped;
        foreach (var (file, text) in mutation.Apply(Sources).Where(source => source.Value != Sources[source.Key]))
        {
            compilation = compilation.ReplaceSyntaxTree(shipped.SyntaxTrees.Single(tree => tree.FilePath == file), Parse(file, text));
        }

        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        if (!result.Success)
        {
            var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10);
            throw new InvalidOperationException($"mutation {mutation.Name}: the engine does not compile:\n" + string.Join("\n", errors));
        }

        image.Position = 0;
        return new MutantLoadContext(AssemblyLoadContext.GetLoadContext(typeof(MutantEngine).Assembly)!).LoadFromStream(image);
    }

    private static SyntaxTree Parse(string file, string text) => CSharpSyntaxTree.ParseText(
        text.Replace(Namespace, $"namespace {MutantNamespace};", StringComparison.Ordinal), new CSharpParseOptions(LanguageVersion.Preview), path: file);

    private static Dictionary<string, string> ReadSources()
    {
        var assembly = typeof(MutantEngine).Assembly;
        var sources = new Dictionary<string, string>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            var text = reader.ReadToEnd().ReplaceLineEndings("\n");
            if (!text.Contains(Namespace, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{name}: the engine's files are expected to declare '{Namespace}'.");
            }

            sources[name[ResourcePrefix.Length..]] = text;
        }

        return sources.Count > 0 ? sources : throw new InvalidOperationException("No engine source is embedded (see the project file).");
    }

    /// <summary>
    /// A mutant's load context: everything it references (the runtime above all) resolves to what the tests' own context
    /// loaded, so the layouts, options and interfaces the tests hand it are the types it was compiled against.
    /// </summary>
    private sealed class MutantLoadContext(AssemblyLoadContext tests) : AssemblyLoadContext("VmcsGen mutant engine")
    {
        protected override Assembly? Load(AssemblyName assemblyName) => tests.LoadFromAssemblyName(assemblyName);
    }
}
