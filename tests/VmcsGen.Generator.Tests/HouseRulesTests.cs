using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>
/// House rules of issue #20 that no Roslyn rule checks: no source line over <see cref="MaxLineLength"/> characters (the
/// <c>max_line_length</c> of .editorconfig) and no source file over <see cref="MaxFileLines"/> lines. "Source" is every
/// <c>*.cs</c> under generator/, runtime/, samples/ and tests/ except build output (bin/, obj/), the reviewed generated
/// snapshots (Snapshots/) and generated <c>*.g.cs</c> files.
/// </summary>
[Category("HouseRules")]
public sealed class HouseRulesTests
{
    public const int MaxLineLength = 160;
    public const int MaxFileLines = 400;

    private static readonly string[] SourceFolders = ["generator", "runtime", "samples", "tests"];
    private static readonly string[] SkippedFolders = ["bin", "obj", "Snapshots", "BenchmarkDotNet.Artifacts"];

    [Test]
    public void NoSourceLineIsLongerThanTheLimit()
    {
        var root = DiagnosticTests.RepositoryRoot();
        var tooLong = LongLines(root, SourceFiles(root));
        Assert.That(tooLong, Is.Empty,
            $"lines over {MaxLineLength} characters (wrap them as CONTRIBUTING.md's Code style says):\n" + string.Join("\n", tooLong));
    }

    [Test]
    public void NoSourceFileIsLongerThanTheLimit()
    {
        var root = DiagnosticTests.RepositoryRoot();
        var tooLong = LongFiles(root, SourceFiles(root));
        Assert.That(tooLong, Is.Empty,
            $"files over {MaxFileLines} lines (split them by concern, as CONTRIBUTING.md's layout says):\n" + string.Join("\n", tooLong));
    }

    /// <summary>The file walk sees the tree: a broken walk would otherwise pass both rules by checking nothing.</summary>
    [Test]
    public void TheRulesSeeTheSourcesAndSkipBuildOutputAndSnapshots()
    {
        var root = DiagnosticTests.RepositoryRoot();
        var files = SourceFiles(root).Select(f => RelativePath(root, f)).ToList();
        Assert.That(files, Does.Contain("generator/VmcsGen.Generator/VmcsGenerator.cs")
            .And.Contain("runtime/VmcsGen.Runtime/Software/SoftwareVmx.cs")
            .And.Contain("samples/NestedSim/Program.cs")
            .And.Contain("tests/VmcsGen.Generator.Tests/HouseRulesTests.cs"));
        Assert.That(files, Has.None.Contains("/bin/").And.None.Contains("/obj/").And.None.Contains("/Snapshots/").And.None.EndsWith(".g.cs"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(root, "tests", "VmcsGen.Generator.Tests", "Snapshots"), "*.cs").Any(),
            "the generated snapshots this walk skips are there");
    }

    /// <summary>Both checks fail on a tree that breaks them, naming file:line and file (line count).</summary>
    [Test]
    public void TheChecksNameEachOffender()
    {
        var root = Path.Combine(Path.GetTempPath(), "vmcsgen-house-rules-" + Guid.NewGuid().ToString("N"));
        try
        {
            var folder = Path.Combine(root, "samples", "Demo");
            Directory.CreateDirectory(folder);
            Directory.CreateDirectory(Path.Combine(folder, "obj"));
            var wide = Path.Combine(folder, "Wide.cs");
            var tall = Path.Combine(folder, "Tall.cs");
            File.WriteAllLines(wide, ["// fine", new string('x', MaxLineLength), new string('y', MaxLineLength + 1)]);
            File.WriteAllLines(tall, Enumerable.Repeat("// line", MaxFileLines + 1));
            File.WriteAllLines(Path.Combine(folder, "Exactly.cs"), Enumerable.Repeat("// line", MaxFileLines));
            File.WriteAllLines(Path.Combine(folder, "Demo.g.cs"), Enumerable.Repeat(new string('z', 200), MaxFileLines + 1));
            File.WriteAllLines(Path.Combine(folder, "obj", "Build.cs"), Enumerable.Repeat(new string('z', 200), MaxFileLines + 1));

            var files = SourceFiles(root).ToList();
            Assert.That(files.Select(f => Path.GetFileName(f)), Is.EquivalentTo(new[] { "Wide.cs", "Tall.cs", "Exactly.cs" }));
            Assert.That(LongLines(root, files), Is.EqualTo(new[] { $"samples/Demo/Wide.cs:3 ({MaxLineLength + 1} characters)" }));
            Assert.That(LongFiles(root, files), Is.EqualTo(new[] { $"samples/Demo/Tall.cs ({MaxFileLines + 1} lines)" }));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static IEnumerable<string> SourceFiles(string root) =>
        SourceFolders.Select(folder => Path.Combine(root, folder))
            .Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.EndsWith(".g.cs", StringComparison.Ordinal))
            .Where(f => !RelativePath(root, f).Split('/').Any(part => SkippedFolders.Contains(part, StringComparer.Ordinal)))
            .Order(StringComparer.Ordinal);

    private static List<string> LongLines(string root, IEnumerable<string> files) =>
        files.SelectMany(f => File.ReadAllLines(f)
                .Select((line, index) => (line.Length, Number: index + 1))
                .Where(l => l.Length > MaxLineLength)
                .Select(l => $"{RelativePath(root, f)}:{l.Number} ({l.Length} characters)"))
            .ToList();

    private static List<string> LongFiles(string root, IEnumerable<string> files) =>
        files.Select(f => (Path: RelativePath(root, f), Lines: File.ReadAllLines(f).Length))
            .Where(f => f.Lines > MaxFileLines)
            .Select(f => $"{f.Path} ({f.Lines} lines)")
            .ToList();

    private static string RelativePath(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');
}
