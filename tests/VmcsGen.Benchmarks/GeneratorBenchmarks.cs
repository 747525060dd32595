using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using VmcsGen.Generator;

namespace VmcsGen.Benchmarks;

/// <summary>
/// The generator's cost: a cold run on fields/kvm.vmcs and on a 500-field synthetic manifest, and the incremental re-run
/// after an unrelated C# edit, which must be nearly free.
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private CSharpCompilation _compilation = null!;
    private CSharpCompilation _edited = null!;
    private AdditionalText _kvm = null!;
    private AdditionalText _synthetic = null!;
    private GeneratorDriver _warm = null!;

    [GlobalSetup]
    public void Setup()
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) == "netstandard.dll")
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(VmxResult).Assembly.Location));
        _compilation = CSharpCompilation.Create("Bench", [CSharpSyntaxTree.ParseText("class User { }")], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        _edited = _compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Unrelated { int X; }"));
        _kvm = new Text("fields/kvm.vmcs", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fields", "kvm.vmcs")));
        _synthetic = new Text("fields/synthetic.vmcs", Synthetic(500));
        _warm = Driver(_kvm).RunGenerators(_compilation);
    }

    /// <summary>500 32-bit guest-state fields, laid out by the generator, in a mix of classes.</summary>
    public static string Synthetic(int count)
    {
        var text = new StringBuilder("layout Bench.Synthetic\nrevision 1\n");
        string[] classes = ["shadow-rw", "shadow-ro", "sync", "rare-sync", "no-sync"];
        for (var i = 0; i < count; i++)
        {
            text.Append($"F{i} 0x{0x4800 + (2 * i):x4} {classes[i % classes.Length]}\n");
        }

        return text.ToString();
    }

    private static GeneratorDriver Driver(AdditionalText manifest) =>
        CSharpGeneratorDriver.Create([new VmcsGenerator().AsSourceGenerator()], [manifest], new CSharpParseOptions(LanguageVersion.Latest));

    [Benchmark(Baseline = true, Description = "generator: cold run, kvm.vmcs")]
    public int ColdKvm() => Driver(_kvm).RunGenerators(_compilation).GetRunResult().GeneratedTrees.Length;

    [Benchmark(Description = "generator: cold run, 500-field synthetic manifest")]
    public int ColdSynthetic() => Driver(_synthetic).RunGenerators(_compilation).GetRunResult().GeneratedTrees.Length;

    [Benchmark(Description = "generator: re-run after an unrelated C# edit")]
    public int IncrementalUnrelatedEdit() => _warm.RunGenerators(_edited).GetRunResult().GeneratedTrees.Length;

    private sealed class Text(string path, string text) : AdditionalText
    {
        private readonly SourceText _text = SourceText.From(text);

        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }
}
