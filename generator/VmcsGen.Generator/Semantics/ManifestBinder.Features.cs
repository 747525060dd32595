using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>
/// Features (requires=) and dirty groups (group=): declared, used, within their limits.
/// </summary>
internal static partial class ManifestBinder
{
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
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredFeature, FeatureValueLocation(field.Syntax.RequiresToken!),
                        field.Syntax.Name.Text, feature));
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
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FeatureNamedOnce, FeatureValueLocation(field.Syntax.RequiresToken!),
                            feature));
                    }
                }
            }
        }

        var result = new List<FeatureSpec>();
        foreach (var name in names)
        {
            if (result.Count == FieldRules.MaxFeatures)
            {
                var token = header.DeclaredFeatures?.First(t => t.Text == name) ?? uses[name][0];
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyFeatures, token.Location, name, FieldRules.MaxFeatures + 1));
                break;
            }

            result.Add(new FeatureSpec(name, ToPascalCase(name), result.Count));
        }

        return result;
    }

    private static List<GroupSpec> BindGroups(List<PendingField> fields, List<DiagnosticInfo> diagnostics)
    {
        var groups = new List<GroupSpec>();
        if (fields.Any(f => FieldRules.HasDirtyGroup(f.Class) && f.Syntax.Group is null))
        {
            groups.Add(new GroupSpec(DefaultGroupName, "Default", 0));
        }

        foreach (var field in fields)
        {
            if (!FieldRules.HasDirtyGroup(field.Class) || field.Syntax.Group is not { } name || groups.Any(g => g.Name == name))
            {
                continue;
            }

            if (groups.Count == FieldRules.MaxDirtyGroups)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyGroups, field.Syntax.GroupToken!.Location, name,
                    FieldRules.MaxDirtyGroups + 1));
                break;
            }

            groups.Add(new GroupSpec(name, ToPascalCase(name), groups.Count));
        }

        return groups;
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
}
