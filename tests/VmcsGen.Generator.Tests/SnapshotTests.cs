using NUnit.Framework;

namespace VmcsGen.Generator.Tests;

/// <summary>The generated sources of every shipped manifest, reviewed as code in Snapshots/.</summary>
public sealed class SnapshotTests
{
    [TestCase("kvm.vmcs", true)]
    [TestCase("kvm-2018.vmcs", false)]
    [TestCase("minimal.vmcs", false)]
    public void ShippedManifest(string fileName, bool shippedByRuntime)
    {
        var text = TestHelpers.ReadShippedManifest(fileName);
        var run = TestHelpers.Run(("fields/" + fileName, text));

        Snapshot.Verify(run, text, parameter: fileName.Replace(".vmcs", string.Empty).Replace('-', '_'));
        Assert.That(run.Sources, Has.Length.EqualTo(Emit.SourceEmitter.PartCount), "one source per generated part");
        var problems = TestHelpers.OutputProblems(run.Output, allowRuntimeConflict: shippedByRuntime);
        Assert.That(problems, Is.Empty, "the generated code compiles without warnings");
    }

    [Test]
    public void AManifestWithNothingShadowedCompilesWithoutWarnings()
    {
        var run = TestHelpers.Run(("plain.vmcs", "layout T.Plain\nrevision 1\nGUEST_RIP 0x681e sync\nIO_BITMAP_A 0x2000\n"));

        Assert.That(run.Diagnostics, Is.Empty);
        Assert.That(TestHelpers.OutputProblems(run.Output), Is.Empty, "empty copy loops declare no unused locals");
    }
}
