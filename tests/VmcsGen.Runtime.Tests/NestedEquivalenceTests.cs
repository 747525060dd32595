using System.Linq;
using NUnit.Framework;
using VmcsGen.Nested;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;
using Minimal = VmcsGen.Layouts.Minimal;
using static VmcsGen.Runtime.Tests.EquivalenceProperty;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The central correctness property (<see cref="EquivalenceProperty"/>) on the shipped engine: NestedVmx and
/// ReferenceNestedVmx agree on 10,000 random event sequences per shipped manifest, and the one known divergence.
/// </summary>
public sealed class NestedEquivalenceTests
{
    [Test]
    public void KvmManifestIsEquivalentToTheReference() =>
        AssertEquivalent<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions(), Sequences, vmwriteAnyVaries: true);

    [Test]
    public void Kvm2018ManifestWithPre2019EngineIsEquivalentToTheReference() =>
        AssertEquivalent<Kvm2018.Layout, Kvm2018.ControlShadows>(
            new NestedVmxOptions { RuntimeOffsetLookup = true, RewriteControlsEveryEntry = true, PutVcpuOnVmcsSwitch = true }, Sequences,
                vmwriteAnyVaries: false);

    [Test]
    public void ManifestWithDirtyGroupsIsEquivalentToTheReference() =>
        AssertEquivalent<Minimal.Layout, Minimal.ControlShadows>(new NestedVmxOptions(), Sequences, vmwriteAnyVaries: true);

    [Test]
    public void WithoutAShadowVmcsTheEngineIsEquivalentToo() =>
        AssertEquivalent<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { UseShadowVmcs = false }, Sequences / 5, vmwriteAnyVaries: true,
            expectShadowed: false);

    private static void AssertEquivalent<TLayout, TControls>(NestedVmxOptions options, int iterations, bool vmwriteAnyVaries, bool expectShadowed = true)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var coverage = new Coverage();
        var failure = Check<TLayout, TControls>(options, iterations, vmwriteAnyVaries, coverage);
        TestContext.Out.WriteLine(coverage);
        Assert.That(failure, Is.Null);
        Assert.Multiple(() =>
        {
            Assert.That(coverage.Sequences, Is.GreaterThanOrEqualTo(iterations));
            Assert.That(coverage.Entries, Is.GreaterThan(coverage.Sequences / 2), "most sequences reach L2");
            Assert.That(coverage.Exits, Is.GreaterThan(coverage.Sequences / 2), "most sequences exit from L2");
            Assert.That(coverage.TrappedAccesses, Is.GreaterThan(coverage.Sequences));
            Assert.That(coverage.Releases, Is.GreaterThan(coverage.Sequences));
            if (expectShadowed)
            {
                Assert.That(coverage.ShadowedAccesses, Is.GreaterThan(coverage.Sequences));
            }

            if (TLayout.Fields.ToArray().Any(f => f.Class == FieldClass.RareSync))
            {
                Assert.That(coverage.RareSyncs, Is.GreaterThan(coverage.Sequences / 10), "lazy rare syncs happen");
            }
        });
    }

    [Test]
    public void ShadowRwArBytesAreTheOneKnownDivergence()
    {
        var (engine, _) = SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>();
        var reference = SoftwareNested.CreateReference<Kvm2018.Layout, Kvm2018.ControlShadows>();
        engine.Memory.CreateRegion(RegionA, Kvm2018.Vmcs12.Revision);
        reference.Memory.CreateRegion(RegionA, Kvm2018.Vmcs12.Revision);
        engine.L1VmPtrLd(RegionA);
        reference.L1VmPtrLd(RegionA);

        engine.L1VmWrite(0x4816, 0x2D5D);
        reference.L1VmWrite(0x4816, 0x2D5D);
        engine.L1VmRead(0x4816, out var throughShadow);
        reference.L1VmRead(0x4816, out var masked);

        Assert.That((throughShadow, masked), Is.EqualTo((0x2D5Dul, 0x205Dul)), "what warning VMCS0115 says: L1 sees unmasked AR bytes through a " +
            "read-write shadow");
    }
}
