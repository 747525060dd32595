using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace VmcsGen.Generator.Diagnostics;

/// <summary>Where a token sits in a manifest: equatable, holds no Roslyn object until reported.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}
