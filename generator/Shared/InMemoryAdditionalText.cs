using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

// Linked into each host of the generator with GeneratorRunner.cs (see there); never compiled into the generator itself.
namespace VmcsGen.Generator;

/// <summary>An in-memory manifest handed to the generator as an AdditionalFile.</summary>
internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}
