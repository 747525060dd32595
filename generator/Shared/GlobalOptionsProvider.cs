using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

// Linked into each host of the generator with GeneratorRunner.cs (see there); never compiled into the generator itself.
namespace VmcsGen.Generator;

/// <summary>Global analyzer-config options with one key, as MSBuild passes a CompilerVisibleProperty.</summary>
internal sealed class GlobalOptionsProvider(string key, string value) : AnalyzerConfigOptionsProvider
{
    private readonly Options _options = new(key, value);

    public override AnalyzerConfigOptions GlobalOptions => _options;

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(string? key, string? value) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(null, null);

        public override bool TryGetValue(string name, [NotNullWhen(true)] out string? result)
        {
            result = name == key ? value : null;
            return result is not null;
        }
    }
}
