using NUnit.Framework;
using VmcsGen.Nested;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;

namespace VmcsGen.Runtime.Tests;

/// <summary>The engines and the CPUID round trip the NestedVmx fixtures start from.</summary>
internal static class NestedRoundTrips
{
    public const ulong Region = 0x20000;

    public static readonly FieldWrite[] CpuidExit =
    [
        new(0x4402, 10), new(0x440C, 2), new(0x6400, 0), new(0x681E, 0x1002), new(0x681C, 0x8000),
    ];

    /// <summary>A kvm.vmcs engine whose L1 has launched L2 on <see cref="Region"/> and taken its first CPUID exit.</summary>
    public static NestedVmx<Kvm.Layout, Kvm.ControlShadows, Software.SoftwareVmcs> Running(NestedVmxOptions? options = null)
    {
        var (engine, _) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(options);
        engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
        engine.L2Exit(CpuidExit);
        return engine;
    }

    /// <summary>L1 handles a CPUID exit as KVM does (reads reason, length, RIP; writes RIP) and resumes L2.</summary>
    public static void RoundTrip(INestedEngine engine, FieldWrite[] exit)
    {
        engine.L1VmRead(0x4402, out _);
        engine.L1VmRead(0x440C, out _);
        engine.L1VmRead(0x681E, out var rip);
        engine.L1VmWrite(0x681E, rip + 2);
        engine.L1VmResume();
        engine.L2Exit(exit);
    }

    /// <summary>The counters of one steady-state CPUID round trip (L1 only resumes) of the kvm-2018 engine with these options.</summary>
    public static NestedCounters Kvm2018RoundTrip(NestedVmxOptions options)
    {
        var (engine, _) = SoftwareNested.Create<Kvm2018.Layout, Kvm2018.ControlShadows>(options);
        engine.Memory.CreateRegion(Region, Kvm2018.Vmcs12.Revision);
        engine.L1VmPtrLd(Region);
        engine.L1VmLaunch();
        engine.L2Exit(CpuidExit);
        var before = engine.Counters;
        engine.L1VmResume();
        engine.L2Exit(CpuidExit);
        return engine.Counters - before;
    }
}
