using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>A way to run nested VMX: a compiled manifest and engine options.</summary>
public sealed record Strategy(string Name, string Description, LayoutHandle Layout, NestedVmxOptions Options);

/// <summary>The shipped strategies: no shadow VMCS, KVM before 2019, the ablation ladder to today's KVM, and extra manifests.</summary>
public static class Strategies
{
    public const string Baseline = "kvm-2018";

    private static readonly NestedVmxOptions Pre2019 = new()
    {
        RuntimeOffsetLookup = true,
        RewriteControlsEveryEntry = true,
        PutVcpuOnVmcsSwitch = true,
        Pre2019VmcsTraffic = true,
    };

    public static IReadOnlyList<Strategy> Build(IReadOnlyList<LayoutHandle> layouts, IEnumerable<string> extraManifests)
    {
        LayoutHandle Find(string manifest) => layouts.FirstOrDefault(l => l.ManifestFile == manifest)
            ?? throw new InvalidOperationException($"the manifest {manifest} is not compiled into NestedSim");

        var kvm2018 = Find("kvm-2018.vmcs");
        var roSplit = Find("ladder-ro-split.vmcs");
        var rareSync = Find("ladder-rare-sync.vmcs");
        var kvm = Find("kvm.vmcs");
        var list = new List<Strategy>
        {
            new("no-shadow", "kvm-2018.vmcs, pre-2019 engine, no shadow VMCS: every L1 VMREAD/VMWRITE exits", kvm2018, Pre2019 with { UseShadowVmcs = false }),
            new(Baseline, "kvm-2018.vmcs with the pre-2019 engine: run-time offset lookup, controls rewritten every entry, vCPU put on every VMCS switch", kvm2018, Pre2019),
            new("+ro-split", "ladder-ro-split.vmcs: read-mostly fields shadowed read-only (incl. CS/SS AR bytes), so never copied back", roSplit, Pre2019),
            new("+compile-time-offsets", "the same, with shadow copy loops at compile-time offsets", roSplit, Pre2019 with { RuntimeOffsetLookup = false }),
            new("+rare-sync", "ladder-rare-sync.vmcs: 35 rare guest fields synced from vmcs02 only on demand", rareSync, Pre2019 with { RuntimeOffsetLookup = false }),
            new("+control-shadows", "kvm.vmcs: vmcs02 controls written only when they change", kvm, Pre2019 with { RuntimeOffsetLookup = false, RewriteControlsEveryEntry = false }),
            new("kvm", "kvm.vmcs with today's engine (+ no vCPU put on VMCS switches, no speculative entry VMWRITEs): KVM since 2019", kvm, new NestedVmxOptions()),
        };

        foreach (var name in extraManifests)
        {
            var layout = layouts.FirstOrDefault(l => l.ManifestFile == name || l.ManifestFile == name + ".vmcs" || string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase) || l.Namespace == name)
                ?? throw new ArgumentException(
                    $"--manifest {name}: no such manifest is compiled into NestedSim; put it in fields/ and rebuild. Compiled: {string.Join(", ", layouts.Select(l => l.ManifestFile))}");
            list.Add(new Strategy(layout.ManifestFile.Replace(".vmcs", string.Empty, StringComparison.Ordinal), $"{layout.ManifestFile} with today's engine", layout, new NestedVmxOptions()));
        }

        return list;
    }
}
