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
/// namespace ignoring case (the first by path wins; generated file names ignore case), no layout a reference already
/// contains, and the runtime must be referenced.
/// </summary>
internal static class ManifestSet
{
    public static EquatableArray<VmcsManifest> Distinct(ImmutableArray<VmcsManifest?> manifests, ReferenceInfo references)
    {
        if (!references.RuntimeReferenced)
        {
            return EquatableArray<VmcsManifest>.Empty;
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        return manifests
            .Where(m => m is not null)
            .Select(m => m!)
            .OrderBy(m => m.FilePath, StringComparer.Ordinal)
            .Where(m => !references.Layouts.Any(l => string.Equals(l.Namespace, m.Namespace, StringComparison.OrdinalIgnoreCase)))
            .Where(m => seen.Add(m.Namespace))
            .ToEquatableArray();
    }

    public static EquatableArray<DiagnosticInfo> Check(ImmutableArray<LayoutDeclaration?> layouts, ReferenceInfo references)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var first = new Dictionary<string, LayoutDeclaration>(StringComparer.OrdinalIgnoreCase);
        foreach (var layout in layouts.Where(l => l is not null).Select(l => l!).OrderBy(l => l.FilePath, StringComparer.Ordinal))
        {
            var referenced = references.Layouts.FirstOrDefault(l => string.Equals(l.Namespace, layout.Namespace, StringComparison.OrdinalIgnoreCase));
            if (!references.RuntimeReferenced)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RuntimeNotReferenced, layout.Location,
                    System.IO.Path.GetFileName(layout.FilePath)));
            }
            else if (referenced.Namespace is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.LayoutAlreadyReferenced, layout.Location, layout.Namespace, referenced.Assembly));
            }
            else if (first.TryGetValue(layout.Namespace, out var earlier))
            {
                diagnostics.Add(earlier.Namespace == layout.Namespace
                    ? DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateLayout, layout.Location, layout.Namespace,
                        System.IO.Path.GetFileName(earlier.FilePath))
                    : DiagnosticInfo.Create(DiagnosticDescriptors.LayoutCaseCollision, layout.Location, layout.Namespace, earlier.Namespace,
                        System.IO.Path.GetFileName(earlier.FilePath)));
            }
            else
            {
                first.Add(layout.Namespace, layout);
            }
        }

        return diagnostics.ToEquatableArray();
    }
}
