using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Semantics;

namespace VmcsGen.Generator;

/// <summary>
/// Rules across manifests: ordered by path (ordinal) so MSBuild item order never shows, one manifest per layout
/// namespace (the first by path wins), and the runtime must be referenced.
/// </summary>
internal static class ManifestSet
{
    public static EquatableArray<VmcsManifest> Distinct(ImmutableArray<VmcsManifest?> manifests, bool runtimeReferenced)
    {
        if (!runtimeReferenced)
        {
            return EquatableArray<VmcsManifest>.Empty;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        return manifests
            .Where(m => m is not null)
            .Select(m => m!)
            .OrderBy(m => m.FilePath, StringComparer.Ordinal)
            .Where(m => seen.Add(m.Namespace))
            .ToEquatableArray();
    }

    public static EquatableArray<DiagnosticInfo> Check(ImmutableArray<LayoutDeclaration?> layouts, bool runtimeReferenced)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var first = new Dictionary<string, LayoutDeclaration>(StringComparer.Ordinal);
        foreach (var layout in layouts.Where(l => l is not null).Select(l => l!).OrderBy(l => l.FilePath, StringComparer.Ordinal))
        {
            if (!runtimeReferenced)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RuntimeNotReferenced, layout.Location, System.IO.Path.GetFileName(layout.FilePath)));
            }
            else if (first.TryGetValue(layout.Namespace, out var earlier))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateLayout, layout.Location, layout.Namespace, System.IO.Path.GetFileName(earlier.FilePath)));
            }
            else
            {
                first.Add(layout.Namespace, layout);
            }
        }

        return diagnostics.ToEquatableArray();
    }
}
