using BenchmarkDotNet.Attributes;
using VmcsGen.Nested;
using VmcsGen.Software;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;

namespace VmcsGen.Benchmarks;

/// <summary>
/// One nested round trip through the engine on SoftwareVmx (a CPUID exit: L1 reads reason, length and RIP, writes RIP,
/// resumes): fields/kvm.vmcs with today's engine against fields/kvm-2018.vmcs with the pre-2019 options.
/// </summary>
[MemoryDiagnoser]
public class RoundTripBenchmarks
{
    private static readonly FieldWrite[] Exit = [new(0x4402, 10), new(0x440C, 2), new(0x6400, 0), new(0x681E, 0x1000)];
    private NestedVmx<Kvm.Layout, Kvm.ControlShadows, SoftwareVmcs> _kvm = null!;
    private NestedVmx<Kvm2018.Layout, Kvm2018.ControlShadows, SoftwareVmcs> _kvm2018 = null!;

    [GlobalSetup]
    public void Setup()
    {
        _kvm = Start<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions(), Kvm.Vmcs12.Revision);
        _kvm2018 = Start<Kvm2018.Layout, Kvm2018.ControlShadows>(
            new NestedVmxOptions
            {
                RuntimeOffsetLookup = true, RewriteControlsEveryEntry = true, PutVcpuOnVmcsSwitch = true, Pre2019VmcsTraffic = true,
            },
            Kvm2018.Vmcs12.Revision);
    }

    private static NestedVmx<TLayout, TControls, SoftwareVmcs> Start<TLayout, TControls>(NestedVmxOptions options, uint revision)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var (engine, _) = SoftwareNested.Create<TLayout, TControls>(options);
        engine.Memory.CreateRegion(0x20000, revision);
        engine.L1VmPtrLd(0x20000);
        engine.L1VmLaunch();
        engine.L2Exit(Exit);
        return engine;
    }

    [Benchmark(Baseline = true, Description = "round trip: kvm-2018.vmcs, pre-2019 engine")]
    public ulong Kvm2018RoundTrip() => RoundTrip(_kvm2018);

    [Benchmark(Description = "round trip: kvm.vmcs, today's engine")]
    public ulong KvmRoundTrip() => RoundTrip(_kvm);

    private static ulong RoundTrip<TLayout, TControls>(NestedVmx<TLayout, TControls, SoftwareVmcs> engine)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        engine.L1VmRead(0x4402, out var reason);
        engine.L1VmRead(0x440C, out var length);
        engine.L1VmRead(0x681E, out var rip);
        engine.L1VmWrite(0x681E, rip + length);
        engine.L1VmResume();
        engine.L2Exit(Exit);
        return reason;
    }
}
