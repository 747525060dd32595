using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using VmcsGen.Nested;

namespace VmcsGen;

/// <summary>
/// A generated layout as a value: its name, manifest, fields, and a factory for engines on a <c>SoftwareVmx</c>. Each
/// generated <c>Layout</c> class exposes one as <c>Layout.Handle</c>; <see cref="Discover"/> finds them all.
/// </summary>
public abstract class LayoutHandle
{
    private protected LayoutHandle(string name, string ns, string manifestFile)
    {
        Name = name;
        Namespace = ns;
        ManifestFile = manifestFile;
    }

    /// <summary>The layout's name: the last segment of its namespace (<c>Kvm</c>).</summary>
    public string Name { get; }

    public string Namespace { get; }

    /// <summary>The manifest's file name (<c>kvm.vmcs</c>).</summary>
    public string ManifestFile { get; }

    public abstract uint Revision { get; }

    /// <summary>Whether the manifest says <c>vmwrite-any</c>: L1 is told it may VMWRITE exit-information fields.</summary>
    public abstract bool VmwriteAny { get; }

    public abstract IReadOnlyList<VmcsFieldDescriptor> Fields { get; }

    /// <summary>A nested engine of this layout on a fresh software processor.</summary>
    public abstract INestedEngine CreateEngine(NestedVmxOptions? options = null);

    /// <summary>The unoptimised reference engine of this layout on a fresh software processor.</summary>
    public abstract INestedEngine CreateReference(NestedVmxOptions? options = null);

    /// <summary>Counters of an engine made by <see cref="CreateEngine"/>.</summary>
    public static NestedCounters CountersOf(INestedEngine engine) => engine is ICountedEngine counted
        ? counted.Counters
        : throw new ArgumentException("Only engines made by CreateEngine have counters.", nameof(engine));

    /// <summary>Every generated layout in the given assemblies (their <c>Layout.Handle</c>), ordered by name.</summary>
    public static IReadOnlyList<LayoutHandle> Discover(params Assembly[] assemblies) =>
        assemblies
            .SelectMany(a => a.GetTypes())
            .Where(t => t.Name == "Layout" && t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IVmcsLayout<>)))
            .Select(t => t.GetProperty("Handle", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as LayoutHandle)
            .Where(h => h is not null)
            .Select(h => h!)
            .OrderBy(h => h.ManifestFile, StringComparer.Ordinal)
            .ToList();

    public override string ToString() => $"{Name} ({ManifestFile})";
}

/// <summary>The handle of one generated layout.</summary>
public sealed class LayoutHandle<TLayout, TControls> : LayoutHandle
    where TLayout : IVmcsLayout<TControls>
    where TControls : struct
{
    public LayoutHandle(string ns, string manifestFile)
        : base(TLayout.Name, ns, manifestFile)
    {
        Fields = TLayout.Fields.ToArray();
    }

    public override uint Revision => TLayout.Revision;

    public override bool VmwriteAny => TLayout.VmwriteAny;

    public override IReadOnlyList<VmcsFieldDescriptor> Fields { get; }

    public override INestedEngine CreateEngine(NestedVmxOptions? options = null) => SoftwareNested.Create<TLayout, TControls>(options).Engine;

    public override INestedEngine CreateReference(NestedVmxOptions? options = null) => SoftwareNested.CreateReference<TLayout, TControls>(options);
}

/// <summary>An engine that counts its work.</summary>
public interface ICountedEngine
{
    NestedCounters Counters { get; }
}
