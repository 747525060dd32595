using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>The result of binding one manifest: the model (null when any error was found) and every diagnostic.</summary>
internal sealed record BindResult(VmcsManifest? Manifest, EquatableArray<DiagnosticInfo> Diagnostics, LayoutDeclaration? Layout);

/// <summary>Which namespace a manifest declares, and where: for the cross-manifest duplicate check.</summary>
internal sealed record LayoutDeclaration(string FilePath, string Namespace, LocationInfo Location);

/// <summary>
/// Syntax to model: applies the header, the field rules of MANIFEST.md and the layout rules. One file per job:
/// ManifestBinder.Header.cs, .Fields.cs, .Layout.cs, .Features.cs (features and groups), .Naming.cs.
/// </summary>
internal static partial class ManifestBinder
{
    public const int DefaultSize = 4096;
    public const int DefaultHeader = 40;
    public const int MinimumHeader = 12;
    public const int MaximumSize = 4096;

    private sealed class Header
    {
        public SyntaxToken? Layout;
        public string? Namespace;
        public uint? Revision;
        public int Size = DefaultSize;
        public SyntaxToken? SizeToken;
        public int HeaderSize = DefaultHeader;
        public SyntaxToken? HeaderToken;
        public bool VmwriteAny;
        public List<SyntaxToken>? DeclaredFeatures;
    }

    public static BindResult Bind(ManifestSyntax syntax, CancellationToken cancellationToken)
    {
        var diagnostics = new List<DiagnosticInfo>(syntax.Diagnostics);
        var header = BindHeader(syntax, diagnostics);
        var fields = BindFields(syntax, header, diagnostics, cancellationToken);
        diagnostics = InSourceOrder(diagnostics);

        LayoutDeclaration? declaration = header.Layout is not null && header.Namespace is not null
            ? new LayoutDeclaration(syntax.FilePath, header.Namespace, header.Layout.Location)
            : null;

        if (diagnostics.Any(d => d.IsError) || header.Namespace is null || header.Revision is null || fields is null)
        {
            return new BindResult(null, diagnostics.ToEquatableArray(), declaration);
        }

        var manifest = new VmcsManifest(
            syntax.FilePath,
            Path.GetFileName(syntax.FilePath),
            header.Namespace,
            header.Namespace.Substring(header.Namespace.LastIndexOf('.') + 1),
            header.Revision.Value,
            header.Size,
            header.HeaderSize,
            header.VmwriteAny,
            fields.Value.ExplicitOffsets,
            fields.Value.Fields,
            fields.Value.Features,
            fields.Value.Groups);
        return new BindResult(manifest, diagnostics.ToEquatableArray(), declaration);
    }

    /// <summary>Diagnostics in the order a reader meets them: by position, stable for ties.</summary>
    private static List<DiagnosticInfo> InSourceOrder(List<DiagnosticInfo> diagnostics) =>
        diagnostics
            .Select((d, i) => (d, i))
            .OrderBy(x => x.d.Location?.Span.Start ?? -1)
            .ThenBy(x => x.i)
            .Select(x => x.d)
            .ToList();

    private readonly record struct BoundFields(
        EquatableArray<FieldSpec> Fields,
        EquatableArray<FeatureSpec> Features,
        EquatableArray<GroupSpec> Groups,
        bool ExplicitOffsets);

    private sealed class PendingField
    {
        public PendingField(FieldSyntax syntax, string cSharpName, FieldClass @class)
        {
            Syntax = syntax;
            CSharpName = cSharpName;
            Class = @class;
        }

        public FieldSyntax Syntax { get; }

        public string CSharpName { get; }

        public FieldClass Class { get; }

        public uint Encoding => Syntax.Encoding;

        public FieldWidth Width => VmcsEncoding.Width(Syntax.Encoding);

        public FieldType Type => VmcsEncoding.Type(Syntax.Encoding);

        public int Size => VmcsEncoding.SizeInBytes(Width);

        public int Offset { get; set; }
    }

    public const string DefaultGroupName = "default";

    /// <summary>Longest field name: its generated members (e.g. <c>ClearBits…</c>) stay far below C#'s and metadata's limits.</summary>
    public const int MaxNameLength = 200;
}
