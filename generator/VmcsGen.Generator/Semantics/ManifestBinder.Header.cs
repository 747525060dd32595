using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>
/// The header directives: layout, revision, size, header, vmwrite-any, features; their numbers and the namespace rules.
/// </summary>
internal static partial class ManifestBinder
{
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
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingValue, ManifestParser.AfterToken(keyword), "Directive 'features'",
                            "feature names"));
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
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingValue, ManifestParser.AfterToken(directive.Keyword),
                "Directive '" + directive.Keyword.Text + "'", what ?? "value"));
            return false;
        }

        if (args.Length > count)
        {
            var extra = args[count];
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnexpectedToken, extra.Location, extra.Text, "directive '" + directive.Keyword.Text +
                "'"));
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
}
