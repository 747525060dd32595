using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Emit;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>
/// C# names from field names, and the checks that derived names (_HIGH forms, generated members) do not collide.
/// </summary>
internal static partial class ManifestBinder
{
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
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HighFormName, field.Syntax.Name.Location, name, full.Syntax.Name.Text,
                    Hex(full.Encoding | 1)));
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
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GeneratedMemberCollision, field.Syntax.Name.Location, field.Syntax.Name.Text,
                    field.CSharpName, $"ControlShadows (for field {other})"));
            }
        }
    }

    private static string Hex(uint value) => value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
}
