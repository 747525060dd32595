using System;
using System.Threading;
using Microsoft.CodeAnalysis;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator;

/// <summary>Picks manifests out of the AdditionalFiles and reads each once.</summary>
internal static class ManifestFiles
{
    public const string Extension = ".vmcs";

    public static bool IsManifest(string path) => path.EndsWith(Extension, StringComparison.OrdinalIgnoreCase);

    public static ManifestSyntax Parse(AdditionalText text, CancellationToken cancellationToken)
    {
        var source = text.GetText(cancellationToken) ?? Microsoft.CodeAnalysis.Text.SourceText.From(string.Empty);
        return ManifestParser.Parse(text.Path, source, cancellationToken);
    }
}
