using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>The incremental pipeline does no work it need not do, and its models hold no Roslyn objects.</summary>
public sealed class CachingTests
{
    private static readonly string[] SourceSteps = [TrackingNames.Models, TrackingNames.Sources];

    private static readonly string[] AllSteps =
    [
        TrackingNames.Manifests, TrackingNames.Bound, TrackingNames.Models, TrackingNames.Winners, TrackingNames.Sources,
        TrackingNames.Diagnostics, TrackingNames.Layouts, TrackingNames.CompilationDetails,
    ];

    [Test]
    public void ASecondRunOnTheSameInputIsCachedEverywhere()
    {
        var (driver, compilation, _) = FirstRun(TestHelpers.ReadShippedManifest("kvm.vmcs"));

        driver = driver.RunGenerators(compilation.Clone());
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;

        foreach (var name in AllSteps)
        {
            Assert.That(steps, Does.ContainKey(name), name);
            Assert.That(Reasons(steps[name]), Is.All.AnyOf(IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged), name);
        }
    }

    [Test]
    public void ACommentEditLeavesSourceStepsUnchanged()
    {
        var text = TestHelpers.ReadShippedManifest("kvm.vmcs");
        var (driver, compilation, manifest) = FirstRun(text);

        driver = driver.ReplaceAdditionalText(manifest, new InMemoryAdditionalText(manifest.Path, "# a new comment line\n\n" + text));
        driver = driver.RunGenerators(compilation);
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;

        Assert.That(Reasons(steps[TrackingNames.Manifests]), Is.All.EqualTo(IncrementalStepRunReason.Modified), "positions moved");
        foreach (var name in SourceSteps)
        {
            Assert.That(Reasons(steps[name]), Is.All.AnyOf(IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged), name);
        }
    }

    [Test]
    public void ReclassifyingAFieldModifiesSourceSteps()
    {
        var text = TestHelpers.ReadShippedManifest("kvm.vmcs");
        var (driver, compilation, manifest) = FirstRun(text);
        var edited = text.Replace("GUEST_ACTIVITY_STATE           0x4826  @916", "GUEST_ACTIVITY_STATE           0x4826  @916  rare-sync",
            StringComparison.Ordinal);
        Assert.That(edited, Is.Not.EqualTo(text), "the edit applies");

        driver = driver.ReplaceAdditionalText(manifest, new InMemoryAdditionalText(manifest.Path, edited));
        driver = driver.RunGenerators(compilation);
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;

        foreach (var name in SourceSteps)
        {
            Assert.That(Reasons(steps[name]), Is.All.EqualTo(IncrementalStepRunReason.Modified), name);
        }
    }

    /// <summary>One source output per manifest: reclassifying a field of kvm.vmcs regenerates kvm's files only.</summary>
    [Test]
    public void EditingOneOfTwoManifestsRegeneratesOnlyItsSources()
    {
        var kvmText = TestHelpers.ReadShippedManifest("kvm.vmcs");
        var kvm = new InMemoryAdditionalText("fields/kvm.vmcs", kvmText);
        var minimal = new InMemoryAdditionalText("fields/minimal.vmcs", TestHelpers.ReadShippedManifest("minimal.vmcs"));
        var compilation = TestHelpers.CreateCompilation();
        var driver = TestHelpers.CreateDriver(kvm, minimal).RunGenerators(compilation);
        var before = driver.GetRunResult().GeneratedTrees.Where(t => t.FilePath.Contains(".Minimal.", StringComparison.Ordinal)).ToArray();
        Assert.That(before, Has.Length.EqualTo(Emit.SourceEmitter.PartCount));

        var edited = kvmText.Replace("GUEST_ACTIVITY_STATE           0x4826  @916", "GUEST_ACTIVITY_STATE           0x4826  @916  rare-sync",
            StringComparison.Ordinal);
        Assert.That(edited, Is.Not.EqualTo(kvmText), "the edit applies");
        driver = driver.ReplaceAdditionalText(kvm, new InMemoryAdditionalText(kvm.Path, edited)).RunGenerators(compilation);
        var result = driver.GetRunResult();
        var steps = result.Results.Single().TrackedSteps;

        Assert.That(Reasons(steps[TrackingNames.Winners]), Is.All.AnyOf(IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged),
            "the set of generating manifests did not change");
        var sources = steps[TrackingNames.Sources].SelectMany(r => r.Outputs).ToArray();
        Assert.That(sources, Has.Length.EqualTo(2));
        Assert.That(sources.Count(o => o.Reason == IncrementalStepRunReason.Modified), Is.EqualTo(1), "kvm's output reruns");
        Assert.That(sources.Count(o => o.Reason == IncrementalStepRunReason.Cached), Is.EqualTo(1), "minimal's output does not");
        var after = result.GeneratedTrees.Where(t => t.FilePath.Contains(".Minimal.", StringComparison.Ordinal)).ToArray();
        Assert.That(after.Select(t => t.ToString()), Is.EqualTo(before.Select(t => t.ToString())));
        Assert.That(result.GeneratedTrees, Has.Length.EqualTo(2 * Emit.SourceEmitter.PartCount));
    }

    [Test]
    public void AnUnrelatedCSharpEditLeavesManifestStepsCached()
    {
        var (driver, compilation, _) = FirstRun(TestHelpers.ReadShippedManifest("kvm.vmcs"));

        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Unrelated { }")));
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;

        foreach (var name in new[] { TrackingNames.Manifests, TrackingNames.Bound, TrackingNames.Models, TrackingNames.Diagnostics })
        {
            Assert.That(Reasons(steps[name]), Is.All.EqualTo(IncrementalStepRunReason.Cached), name);
        }

        foreach (var name in new[] { TrackingNames.Winners, TrackingNames.Sources, TrackingNames.Layouts })
        {
            Assert.That(Reasons(steps[name]), Is.All.AnyOf(IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged), name);
        }
    }

    [Test]
    public void OurStepOutputsHoldNoRoslynObjects()
    {
        var (driver, _, _) = FirstRun(TestHelpers.ReadShippedManifest("minimal.vmcs") + "BAD line\n");
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;

        foreach (var name in AllSteps)
        {
            foreach (var run in steps[name])
            {
                foreach (var (value, _) in run.Outputs)
                {
                    AssertObjectGraph(value, name, new HashSet<object>(ReferenceEqualityComparer.Instance));
                }
            }
        }
    }

    [Test]
    public void OldCompilationsAreReleased()
    {
        var (driver, weak) = RunAndForget();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.That(weak.IsAlive, Is.False, "the driver keeps no reference to an old compilation");
        GC.KeepAlive(driver);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (GeneratorDriver Driver, WeakReference Compilation) RunAndForget()
    {
        var (driver, compilation, _) = FirstRun(TestHelpers.ReadShippedManifest("minimal.vmcs"));
        var next = TestHelpers.CreateCompilation(true, "class Other { }");
        driver = driver.RunGenerators(next);
        return (driver, new WeakReference(compilation));
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation, AdditionalText Manifest) FirstRun(string text)
    {
        var manifest = new InMemoryAdditionalText("fields/kvm.vmcs", text);
        var compilation = TestHelpers.CreateCompilation();
        var driver = TestHelpers.CreateDriver(manifest).RunGenerators(compilation);
        return (driver, compilation, manifest);
    }

    private static IEnumerable<IncrementalStepRunReason> Reasons(IEnumerable<IncrementalGeneratorRunStep> runs) =>
        runs.SelectMany(r => r.Outputs).Select(o => o.Reason);

    private static void AssertObjectGraph(object? value, string step, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value))
        {
            return;
        }

        Assert.That(value, Is.Not.InstanceOf<Compilation>().And.Not.InstanceOf<ISymbol>().And.Not.InstanceOf<SyntaxNode>().And.Not.InstanceOf<Location>(),
            $"{step} holds {value.GetType()}");
        if (value is DiagnosticDescriptor)
        {
            return; // immutable metadata, compared by value
        }

        if (value is IEnumerable sequence)
        {
            foreach (var item in sequence)
            {
                AssertObjectGraph(item, step, seen);
            }
        }

        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            AssertObjectGraph(field.GetValue(value), step, seen);
        }
    }
}
