using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

/// <summary>Shared discovery of the layouts compiled into NestedSim.</summary>
internal static class Sim
{
    public static readonly IReadOnlyList<LayoutHandle> Layouts = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Simulator).Assembly);
    public static readonly IReadOnlyDictionary<string, uint> Names = Simulator.FieldNames(Layouts);
    public static readonly IReadOnlyList<Strategy> Strategies = Samples.NestedSim.Strategies.Build(Layouts, []);

    public static Strategy Named(string name) => Strategies.Single(s => s.Name == name);

    /// <summary>The checkout's root (where VmcsGen.sln is), for tests that hold the docs to what the code computes.</summary>
    public static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "")
    {
        var root = System.IO.Path.GetDirectoryName(here)!;
        while (!System.IO.File.Exists(System.IO.Path.Combine(root, "VmcsGen.sln")))
        {
            root = System.IO.Path.GetDirectoryName(root) ?? throw new InvalidOperationException("VmcsGen.sln not found above " + here);
        }

        return root;
    }

    /// <summary>The README (folded by <see cref="Readme"/>) states <paramref name="text"/>; the failure shows the text, not the README.</summary>
    public static void AssertReadmeSays(string readme, string text) =>
        Assert.That(readme.Contains(text, StringComparison.Ordinal), Is.True, $"samples/NestedSim/README.md should say: {text}");

    /// <summary>samples/NestedSim/README.md with line breaks and indentation folded to single spaces.</summary>
    public static string Readme() =>
        System.Text.RegularExpressions.Regex.Replace(System.IO.File.ReadAllText(System.IO.Path.Combine(RepositoryRoot(), "samples", "NestedSim", "README.md")),
            @"\s+", " ");
}
