using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator;

/// <summary>A layout some referenced assembly already contains (its namespace, the assembly's name).</summary>
internal readonly record struct ReferencedLayout(string Namespace, string Assembly);

/// <summary>
/// What the compilation's references tell the generator: whether VmcsGen.Runtime is referenced, and which layouts are
/// already compiled into a referenced assembly (VmcsGen.Runtime ships VmcsGen.Layouts.Kvm). Compared by value, so an edit
/// of the user's code leaves the pipeline cached.
/// </summary>
internal sealed record ReferenceInfo(bool RuntimeReferenced, EquatableArray<ReferencedLayout> Layouts)
{
    private const string RuntimeAssembly = "VmcsGen.Runtime";

    /// <summary>
    /// MSBuild property <c>VmcsGenRecompileReferencedLayouts=true</c> (made visible to the generator as a compiler-visible
    /// property): generate a layout even when a reference already contains it. For the generator's own snapshot tests of
    /// fields/kvm.vmcs; a project that sets it gets C#'s CS0436 warnings instead of VMCS0904.
    /// </summary>
    public const string RecompileOption = "build_property.VmcsGenRecompileReferencedLayouts";

    public static ReferenceInfo From(Compilation compilation)
    {
        var runtime = compilation.GetTypeByMetadataName("VmcsGen.VmxResult") is not null;
        if (!runtime)
        {
            return new ReferenceInfo(false, EquatableArray<ReferencedLayout>.Empty);
        }

        var layouts = new List<ReferencedLayout>();
        foreach (var assembly in compilation.SourceModule.ReferencedAssemblySymbols)
        {
            if (assembly.Name != RuntimeAssembly && !assembly.Modules.Any(m => m.ReferencedAssemblies.Any(r => r.Name == RuntimeAssembly)))
            {
                continue;
            }

            Collect(assembly.GlobalNamespace, assembly.Name, layouts);
        }

        return new ReferenceInfo(true, layouts.OrderBy(l => l.Namespace, StringComparer.Ordinal).ToEquatableArray());
    }

    /// <summary>A generated layout is a class <c>Layout</c> implementing VmcsGen.IVmcsLayout&lt;T&gt;.</summary>
    private static void Collect(INamespaceSymbol ns, string assembly, List<ReferencedLayout> layouts)
    {
        foreach (var type in ns.GetTypeMembers("Layout"))
        {
            if (type.AllInterfaces.Any(i => i.Name == "IVmcsLayout" && i.ContainingNamespace?.ToDisplayString() == "VmcsGen"))
            {
                layouts.Add(new ReferencedLayout(ns.ToDisplayString(), assembly));
            }
        }

        foreach (var child in ns.GetNamespaceMembers())
        {
            Collect(child, assembly, layouts);
        }
    }
}
