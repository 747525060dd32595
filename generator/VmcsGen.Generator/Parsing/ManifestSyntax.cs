using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Parsing;

/// <summary>One whitespace-separated token of a manifest line, with its exact location.</summary>
internal sealed record SyntaxToken(string Text, LocationInfo Location);

/// <summary>A header line: <c>keyword [argument ...]</c>.</summary>
/// <param name="AfterFields">True when it appears after the first field line.</param>
internal sealed record DirectiveSyntax(SyntaxToken Keyword, EquatableArray<SyntaxToken> Arguments, bool AfterFields);

/// <summary>A field line after parsing: each part keeps its token so the binder can point at it.</summary>
internal sealed record FieldSyntax(
    SyntaxToken Name,
    SyntaxToken EncodingToken,
    uint Encoding,
    SyntaxToken? OffsetToken,
    int? Offset,
    SyntaxToken? ClassToken,
    FieldClass? Class,
    SyntaxToken? ControlShadowToken,
    SyntaxToken? RequiresToken,
    string? Feature,
    SyntaxToken? GroupToken,
    string? Group);

/// <summary>The parse of one manifest file, with the syntax diagnostics found on the way.</summary>
internal sealed record ManifestSyntax(
    string FilePath,
    EquatableArray<DirectiveSyntax> Directives,
    EquatableArray<FieldSyntax> Fields,
    LocationInfo FileStart,
    EquatableArray<DiagnosticInfo> Diagnostics);
