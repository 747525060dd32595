using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Emit;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>The result of binding one manifest: the model (null when any error was found) and every diagnostic.</summary>
internal sealed record BindResult(VmcsManifest? Manifest, EquatableArray<DiagnosticInfo> Diagnostics, LayoutDeclaration? Layout);

/// <summary>Which namespace a manifest declares, and where: for the cross-manifest duplicate check.</summary>
internal sealed record LayoutDeclaration(string FilePath, string Namespace, LocationInfo Location);

/// <summary>Syntax to model: applies the header, the field rules of MANIFEST.md and the layout rules.</summary>
internal static class ManifestBinder
{
    public const int DefaultSize = 4096;
    public const int DefaultHeader = 40;
    public const int MinimumHeader = 12;
    public const int MaximumSize = 4096;
    public const int MaxGroups = 32;
    public const int MaxFeatures = 64;
    public const int ShadowWarningThreshold = 64;

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

    private static Header BindHeader(ManifestSyntax syntax, List<DiagnosticInfo> diagnostics)
    {
        var header = new Header();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var directive in syntax.Directives)
        {
            var keyword = directive.Keyword;
            if (directive.AfterFields)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DirectiveAfterFields, keyword.Location, keyword.Text));
                continue;
            }

            if (!IsKnownDirective(keyword.Text))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownDirective, keyword.Location, keyword.Text));
                continue;
            }

            if (!seen.Add(keyword.Text))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateDirective, keyword.Location, keyword.Text));
                continue;
            }

            var args = directive.Arguments;
            switch (keyword.Text)
            {
                case "vmwrite-any":
                    if (ExpectArguments(directive, 0, null, diagnostics))
                    {
                        header.VmwriteAny = true;
                    }

                    break;
                case "features":
                    if (args.Length == 0)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingValue, ManifestParser.AfterToken(keyword), "Directive 'features'", "feature names"));
                        break;
                    }

                    header.DeclaredFeatures = new List<SyntaxToken>();
                    foreach (var feature in args)
                    {
                        if (!ManifestParser.IsFeatureOrGroupName(feature.Text))
                        {
                            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidIdentifier, feature.Location, feature.Text, "feature"));
                        }
                        else if (!header.DeclaredFeatures.Any(f => f.Text == feature.Text))
                        {
                            header.DeclaredFeatures.Add(feature);
                        }
                    }

                    break;
                case "layout":
                    if (ExpectArguments(directive, 1, "namespace", diagnostics))
                    {
                        var name = args[0];
                        if (ValidateNamespace(name.Text) is { } problem)
                        {
                            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidLayoutName, name.Location, name.Text, problem));
                        }
                        else
                        {
                            header.Layout = name;
                            header.Namespace = name.Text;
                        }
                    }

                    break;
                default:
                    if (ExpectArguments(directive, 1, "number", diagnostics) && TryNumber(args[0], "'" + keyword.Text + "'", diagnostics, out var value))
                    {
                        BindNumber(header, keyword.Text, args[0], value, diagnostics);
                    }

                    break;
            }
        }

        if (header.HeaderToken is not null && header.HeaderSize >= header.Size)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.ValueOutOfRange, header.HeaderToken.Location, "header", header.HeaderSize,
                "it must be smaller than the region size " + header.Size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (!seen.Contains("layout"))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingDirective, syntax.FileStart, "layout"));
        }

        if (!seen.Contains("revision"))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingDirective, syntax.FileStart, "revision"));
        }

        return header;
    }

    private static void BindNumber(Header header, string keyword, SyntaxToken token, ulong value, List<DiagnosticInfo> diagnostics)
    {
        string? problem = null;
        switch (keyword)
        {
            case "revision":
                if (value > 0x7FFF_FFFF)
                {
                    problem = "a VMCS revision identifier has 31 bits (bit 31 is the shadow-VMCS indicator)";
                }
                else
                {
                    header.Revision = (uint)value;
                }

                break;
            case "size":
                if (value < 16 || value > MaximumSize)
                {
                    problem = "a VMCS region is 16 to 4096 bytes (IA32_VMX_BASIC bits 44:32)";
                }
                else
                {
                    header.Size = (int)value;
                    header.SizeToken = token;
                }

                break;
            case "header":
                if (value < MinimumHeader || value > MaximumSize || value % 4 != 0)
                {
                    problem = "the header is a multiple of 4 bytes, at least 12 (revision @0, abort indicator @4, launch state @8)";
                }
                else
                {
                    header.HeaderSize = (int)value;
                    header.HeaderToken = token;
                }

                break;
        }

        if (problem is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ValueOutOfRange, token.Location, keyword, token.Text, problem));
        }
    }

    private static bool ExpectArguments(DirectiveSyntax directive, int count, string? what, List<DiagnosticInfo> diagnostics)
    {
        var args = directive.Arguments;
        if (args.Length < count)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingValue, ManifestParser.AfterToken(directive.Keyword), "Directive '" + directive.Keyword.Text + "'", what ?? "value"));
            return false;
        }

        if (args.Length > count)
        {
            var extra = args[count];
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnexpectedToken, extra.Location, extra.Text, "directive '" + directive.Keyword.Text + "'"));
            return false;
        }

        return true;
    }

    private static bool TryNumber(SyntaxToken token, string what, List<DiagnosticInfo> diagnostics, out ulong value)
    {
        if (ManifestParser.TryParseNumber(token.Text, out value))
        {
            return true;
        }

        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedNumber, token.Location, token.Text, what));
        return false;
    }

    private static bool IsKnownDirective(string keyword) =>
        keyword is "layout" or "revision" or "size" or "header" or "vmwrite-any" or "features";

    private static string? ValidateNamespace(string name)
    {
        foreach (var segment in name.Split('.'))
        {
            if (segment.Length == 0)
            {
                return "it has an empty segment";
            }

            if (!SyntaxFacts.IsValidIdentifier(segment))
            {
                return "'" + segment + "' is not an identifier";
            }

            if (SyntaxFacts.GetKeywordKind(segment) != SyntaxKind.None)
            {
                return "'" + segment + "' is a C# keyword";
            }
        }

        return null;
    }

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

    private static BoundFields? BindFields(ManifestSyntax syntax, Header header, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        var byEncoding = new Dictionary<uint, FieldSyntax>();
        var byName = new Dictionary<string, FieldSyntax>(StringComparer.Ordinal);
        var byCSharpName = new Dictionary<string, FieldSyntax>(StringComparer.Ordinal);
        var pending = new List<PendingField>();
        var errors = diagnostics.Count(d => d.IsError);

        foreach (var field in syntax.Fields)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = field.Name.Text;
            var encoding = field.Encoding;
            if ((encoding & VmcsEncoding.ReservedMask) != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.ReservedEncodingBits, field.EncodingToken.Location, name, Hex(encoding), "0x" + Hex(encoding & VmcsEncoding.ReservedMask)));
                continue;
            }

            if ((encoding & 1) != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HighFormListed, field.EncodingToken.Location, name, Hex(encoding), Hex(encoding & ~1u)));
                continue;
            }

            if (name.Length > MaxNameLength)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NameTooLong, field.Name.Location, Shorten(name), name.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), MaxNameLength.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                continue;
            }

            var cSharpName = ToPascalCase(name);
            if (byName.ContainsKey(name))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateName, field.Name.Location, name, cSharpName));
                continue;
            }

            if (KnownFields.Encodings.TryGetValue(name, out var known) && known != encoding)
            {
                var token = field.EncodingToken.Text;
                var hint = token.Length > 0 && token.All(char.IsDigit) && uint.TryParse(token, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var asHex) && asHex == known
                    ? $" (the number {token} is decimal: write 0x{token})"
                    : string.Empty;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.KnownNameOtherEncoding, field.EncodingToken.Location, name, Hex(encoding), Hex(known), hint));
                continue;
            }

            if (byEncoding.TryGetValue(encoding, out var other))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateEncoding, field.EncodingToken.Location, name, Hex(encoding), other.Name.Text));
                continue;
            }

            if (byCSharpName.TryGetValue(cSharpName, out var clash))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.CSharpNameCollision, field.Name.Location, name, clash.Name.Text, cSharpName));
                continue;
            }

            if (GeneratedNames.OwnerOf(cSharpName) is { } owner)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GeneratedMemberCollision, field.Name.Location, name, cSharpName, owner));
                continue;
            }

            byName.Add(name, field);
            byEncoding.Add(encoding, field);
            byCSharpName.Add(cSharpName, field);

            var type = VmcsEncoding.Type(encoding);
            var width = VmcsEncoding.Width(encoding);
            var @class = field.Class ?? (type is FieldType.GuestState or FieldType.ExitInformation ? FieldClass.Sync : FieldClass.NoSync);
            CheckClassRules(field, @class, type, width, header, diagnostics);
            pending.Add(new PendingField(field, cSharpName, @class));
        }

        CheckDerivedNames(pending, diagnostics);
        var explicitOffsets = BindOffsets(pending, header, diagnostics);
        var features = BindFeatures(pending, header, diagnostics);
        var groups = BindGroups(pending, diagnostics);
        CheckShadowCount(pending, diagnostics);

        if (diagnostics.Count(d => d.IsError) != errors)
        {
            return null;
        }

        var specs = pending
            .Select(p => new FieldSpec(
                p.Syntax.Name.Text,
                p.CSharpName,
                p.Encoding,
                p.Width,
                p.Type,
                p.Offset,
                p.Class,
                p.Syntax.ControlShadowToken is not null,
                p.Syntax.Feature,
                p.Syntax.Feature is null ? -1 : features.First(f => f.Name == p.Syntax.Feature).Bit,
                p.Class == FieldClass.ShadowRw ? -1 : groups.First(g => g.Name == (p.Syntax.Group ?? DefaultGroupName)).Bit))
            .OrderBy(f => f.Encoding)
            .ThenBy(f => f.Name, StringComparer.Ordinal)
            .ToEquatableArray();
        return new BoundFields(specs, features.ToEquatableArray(), groups.ToEquatableArray(), explicitOffsets);
    }

    private static void CheckClassRules(FieldSyntax field, FieldClass @class, FieldType type, FieldWidth width, Header header, List<DiagnosticInfo> diagnostics)
    {
        var name = field.Name.Text;
        var classLocation = field.ClassToken?.Location ?? field.Name.Location;
        if (@class == FieldClass.RareSync && type != FieldType.GuestState)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RareSyncNotGuestState, classLocation, name, FieldText.Describe(type)));
        }

        if (@class == FieldClass.ShadowRw && type == FieldType.ExitInformation && !header.VmwriteAny)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowRwExitInfo, classLocation, name));
        }

        if (@class == FieldClass.ShadowRw && field.GroupToken is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GroupOnShadowRw, field.GroupToken.Location, name));
        }

        if (@class is FieldClass.ShadowRw or FieldClass.ShadowRo && field.Encoding == VmcsEncoding.VmInstructionError)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowedInstructionError, classLocation, name));
        }

        if (@class == FieldClass.ShadowRw && VmcsEncoding.IsSegmentAccessRights(field.Encoding))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowRwArBytes, classLocation, name));
        }

        if (field.ControlShadowToken is { } controlShadow)
        {
            if (type != FieldType.Control)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ControlShadowNotControl, controlShadow.Location, name, FieldText.Describe(type)));
            }
            else if (width is not (FieldWidth.Bits32 or FieldWidth.Bits64))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ControlShadowWidth, controlShadow.Location, name, FieldText.Describe(width)));
            }
        }
    }

    /// <summary>Checks explicit offsets, or lays fields out after the header. Returns whether offsets were explicit.</summary>
    private static bool BindOffsets(List<PendingField> fields, Header header, List<DiagnosticInfo> diagnostics)
    {
        var withOffset = fields.Count(f => f.Syntax.Offset is not null);
        if (withOffset == 0)
        {
            LayOut(fields, header, diagnostics);
            return false;
        }

        if (withOffset != fields.Count)
        {
            foreach (var field in fields.Where(f => f.Syntax.Offset is null))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MixedOffsets, field.Syntax.Name.Location, field.Syntax.Name.Text));
            }

            return true;
        }

        var placed = new List<PendingField>();
        foreach (var field in fields)
        {
            var offset = field.Syntax.Offset!.Value;
            var location = field.Syntax.OffsetToken!.Location;
            var name = field.Syntax.Name.Text;
            field.Offset = offset;
            if (offset % field.Size != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MisalignedOffset, location, name, offset, field.Size));
            }
            else if (offset < header.HeaderSize)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.OverlapsHeader, location, name, offset, header.HeaderSize));
            }
            else if (offset + field.Size > header.Size)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.BeyondSize, location, name, offset, offset + field.Size, header.Size));
            }
            else if (placed.FirstOrDefault(p => p.Offset < offset + field.Size && offset < p.Offset + p.Size) is { } other)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.OverlappingFields, location, name, offset, offset + field.Size,
                    other.Syntax.Name.Text, other.Offset, other.Offset + other.Size));
            }
            else
            {
                placed.Add(field);
            }
        }

        return true;
    }

    /// <summary>MANIFEST.md: after the header, 64-bit, then natural-width (8 bytes), then 32-bit, then 16-bit, each in manifest order.</summary>
    private static void LayOut(List<PendingField> fields, Header header, List<DiagnosticInfo> diagnostics)
    {
        var offset = (header.HeaderSize + 7) & ~7;
        foreach (var width in new[] { FieldWidth.Bits64, FieldWidth.Natural, FieldWidth.Bits32, FieldWidth.Bits16 })
        {
            foreach (var field in fields.Where(f => f.Width == width))
            {
                field.Offset = offset;
                offset += field.Size;
            }
        }

        if (fields.FirstOrDefault(f => f.Offset + f.Size > header.Size) is { } first)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.BeyondSize, first.Syntax.Name.Location, first.Syntax.Name.Text, first.Offset, first.Offset + first.Size, header.Size));
        }
    }

    private static List<FeatureSpec> BindFeatures(List<PendingField> fields, Header header, List<DiagnosticInfo> diagnostics)
    {
        var uses = new Dictionary<string, List<SyntaxToken>>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            if (field.Syntax.Feature is { } feature)
            {
                if (!uses.TryGetValue(feature, out var list))
                {
                    uses[feature] = list = new List<SyntaxToken>();
                }

                list.Add(field.Syntax.RequiresToken!);
            }
        }

        var names = new List<string>();
        if (header.DeclaredFeatures is { } declared)
        {
            foreach (var token in declared)
            {
                names.Add(token.Text);
                if (!uses.ContainsKey(token.Text))
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnusedFeature, token.Location, token.Text));
                }
            }

            foreach (var field in fields)
            {
                if (field.Syntax.Feature is { } feature && !declared.Any(d => d.Text == feature))
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredFeature, FeatureValueLocation(field.Syntax.RequiresToken!), field.Syntax.Name.Text, feature));
                }
            }
        }
        else
        {
            foreach (var field in fields)
            {
                if (field.Syntax.Feature is { } feature && !names.Contains(feature))
                {
                    names.Add(feature);
                    if (uses[feature].Count == 1)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FeatureNamedOnce, FeatureValueLocation(field.Syntax.RequiresToken!), feature));
                    }
                }
            }
        }

        var result = new List<FeatureSpec>();
        foreach (var name in names)
        {
            if (result.Count == MaxFeatures)
            {
                var token = header.DeclaredFeatures?.First(t => t.Text == name) ?? uses[name][0];
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyFeatures, token.Location, name, MaxFeatures + 1));
                break;
            }

            result.Add(new FeatureSpec(name, ToPascalCase(name), result.Count));
        }

        return result;
    }

    public const string DefaultGroupName = "default";

    private static List<GroupSpec> BindGroups(List<PendingField> fields, List<DiagnosticInfo> diagnostics)
    {
        var groups = new List<GroupSpec>();
        if (fields.Any(f => f.Class != FieldClass.ShadowRw && f.Syntax.Group is null))
        {
            groups.Add(new GroupSpec(DefaultGroupName, "Default", 0));
        }

        foreach (var field in fields)
        {
            if (field.Class == FieldClass.ShadowRw || field.Syntax.Group is not { } name || groups.Any(g => g.Name == name))
            {
                continue;
            }

            if (groups.Count == MaxGroups)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyGroups, field.Syntax.GroupToken!.Location, name, MaxGroups + 1));
                break;
            }

            groups.Add(new GroupSpec(name, ToPascalCase(name), groups.Count));
        }

        return groups;
    }

    private static void CheckShadowCount(List<PendingField> fields, List<DiagnosticInfo> diagnostics)
    {
        var shadowed = fields.Where(f => f.Class is FieldClass.ShadowRw or FieldClass.ShadowRo).ToList();
        if (shadowed.Count > ShadowWarningThreshold)
        {
            var first = shadowed[ShadowWarningThreshold].Syntax;
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyShadowed, (first.ClassToken ?? first.Name).Location, shadowed.Count));
        }
    }

    private static LocationInfo FeatureValueLocation(SyntaxToken requires)
    {
        const int prefix = 9; // "requires="
        var l = requires.Location;
        return l with
        {
            Span = new Microsoft.CodeAnalysis.Text.TextSpan(l.Span.Start + prefix, l.Span.Length - prefix),
            LineSpan = new Microsoft.CodeAnalysis.Text.LinePositionSpan(
                new Microsoft.CodeAnalysis.Text.LinePosition(l.LineSpan.Start.Line, l.LineSpan.Start.Character + prefix),
                l.LineSpan.End),
        };
    }


    /// <summary><c>GUEST_ES_SELECTOR</c> → <c>GuestEsSelector</c>; <c>preemption-timer</c> → <c>PreemptionTimer</c>.</summary>
    public static string ToPascalCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length);
        foreach (var part in name.Split('_', '-'))
        {
            if (part.Length == 0)
            {
                continue;
            }

            builder.Append(char.ToUpperInvariant(part[0]));
            builder.Append(part.Substring(1).ToLowerInvariant());
        }

        return builder.ToString();
    }

    /// <summary>Longest field name: its generated members (e.g. <c>ClearBits…</c>) stay far below C#'s and metadata's limits.</summary>
    public const int MaxNameLength = 200;

    private static string Shorten(string text) => text.Length <= 40 ? text : text.Substring(0, 37) + "...";

    /// <summary>
    /// Names derived from fields: X_HIGH of a 64-bit field X (its generated _HIGH form), and the Set/SetBits/ClearBits members
    /// the control shadows generate for each control-shadow field.
    /// </summary>
    private static void CheckDerivedNames(List<PendingField> pending, List<DiagnosticInfo> diagnostics)
    {
        var byName = pending.ToDictionary(p => p.Syntax.Name.Text, StringComparer.Ordinal);
        foreach (var field in pending)
        {
            var name = field.Syntax.Name.Text;
            if (name.EndsWith("_HIGH", StringComparison.Ordinal)
                && byName.TryGetValue(name.Substring(0, name.Length - 5), out var full)
                && VmcsEncoding.Width(full.Encoding) == FieldWidth.Bits64)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HighFormName, field.Syntax.Name.Location, name, full.Syntax.Name.Text, Hex(full.Encoding | 1)));
            }
        }

        var shadows = pending.Where(p => p.Syntax.ControlShadowToken is not null).ToList();
        var derived = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in shadows)
        {
            foreach (var prefix in GeneratedNames.ControlShadowPrefixes)
            {
                derived[prefix + field.CSharpName] = field.Syntax.Name.Text;
            }
        }

        foreach (var field in shadows)
        {
            if (derived.TryGetValue(field.CSharpName, out var other))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GeneratedMemberCollision, field.Syntax.Name.Location, field.Syntax.Name.Text, field.CSharpName, $"ControlShadows (for field {other})"));
            }
        }
    }

    private static string Hex(uint value) => value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
}
