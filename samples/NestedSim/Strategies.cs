using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>A way to run nested VMX: a compiled manifest and engine options.</summary>
public sealed record Strategy(string Name, string Description, LayoutHandle Layout, NestedVmxOptions Options);

/// <summary>
/// The shipped strategies: no shadow VMCS, KVM before its December 2017 series and that series' ladder to kvm-2018, KVM
/// before 2019, the 2019 ablation ladder to today's KVM, and extra manifests.
/// </summary>
public static class Strategies
{
    public const string Baseline = "kvm-2018";

    /// <summary>KVM before its December 2017 series: Linux 4.15.</summary>
    public const string Kvm2017 = "kvm-2017";

    /// <summary>Today's KVM (since the 2019 series).</summary>
    public const string Kvm = "kvm";

    /// <summary>The versions <c>--suite vmexit --history</c> shows, oldest first.</summary>
    public static readonly IReadOnlyList<string> History = [Kvm2017, Baseline, Kvm];

    /// <summary>
    /// Linux 4.15 (KVM before its December 2017 series): the pre-2019 engine, plus no dirty tracking (prepare_vmcs02
    /// writes every field on every entry, the controls among them) and the shadow copy loops' extra width switch.
    /// </summary>
    private static readonly NestedVmxOptions Pre2018 = new()
    {
        RuntimeOffsetLookup = true,
        PutVcpuOnVmcsSwitch = true,
        Pre2019VmcsTraffic = true,
        PrepareFullVmcs02EveryEntry = true,
        ShadowCopyWidthSwitch = true,
    };

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
        var kvm2017 = Find("kvm-2017.vmcs");
        var shadowMore = Find("ladder-2017-shadow-more.vmcs");
        var list = new List<Strategy>
        {
            new("no-shadow", "kvm-2018.vmcs, pre-2019 engine, no shadow VMCS: every L1 VMREAD/VMWRITE exits", kvm2018, Pre2019 with { UseShadowVmcs = false }),
            new(Kvm2017, "kvm-2017.vmcs (Linux 4.15): no dirty tracking (vmcs02 prepared in full every entry), shadow copies with run-time lookup and width " +
                "switch, vCPU put on every VMCS switch", kvm2017, Pre2018),
            new("+dirty-tracking", "74a497fae754 and the patches after it: non-shadowed fields written into vmcs02 only when L1 changed vmcs12", kvm2017,
                Pre2019 with { ShadowCopyWidthSwitch = true }),
            new("+shadow-more-fields", "c5d167b27e00 (ladder-2017-shadow-more.vmcs): SS AR bytes, RVI/SVI, PML index and preemption timer shadowed; " +
                "CS/ES segment fields, BNDCFGS and TSC offset not", shadowMore, Pre2019 with { ShadowCopyWidthSwitch = true }),
            new("+shadow-copy", "44900ba65e16: shadow copy loops without the width switch on the VMCS side (Linux 4.16)", shadowMore, Pre2019),
            new(Baseline, "kvm-2018.vmcs with the pre-2019 engine: run-time offset lookup, controls rewritten every entry, vCPU put on every VMCS switch",
                kvm2018, Pre2019),
            new("+ro-split", "ladder-ro-split.vmcs: read-mostly fields shadowed read-only (incl. CS/SS AR bytes), so never copied back", roSplit, Pre2019),
            new("+compile-time-offsets", "the same, with shadow copy loops at compile-time offsets", roSplit, Pre2019 with { RuntimeOffsetLookup = false }),
            new("+rare-sync", "ladder-rare-sync.vmcs: 35 rare guest fields synced from vmcs02 only on demand", rareSync,
                Pre2019 with { RuntimeOffsetLookup = false }),
            new("+control-shadows", "kvm.vmcs: vmcs02 controls written only when they change", kvm,
                Pre2019 with { RuntimeOffsetLookup = false, RewriteControlsEveryEntry = false }),
            new("kvm", "kvm.vmcs with today's engine (+ no vCPU put on VMCS switches, no speculative entry VMWRITEs): KVM since 2019", kvm,
                new NestedVmxOptions()),
        };

        foreach (var name in extraManifests)
        {
            var layout = layouts.FirstOrDefault(l => l.ManifestFile == name || l.ManifestFile == name + ".vmcs"
                || string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase) || l.Namespace == name)
                ?? throw new ArgumentException(
                    $"--manifest {name}: no such manifest is compiled into NestedSim; put it in fields/ and rebuild. Compiled: " +
                        $"{string.Join(", ", layouts.Select(l => l.ManifestFile))}");
            list.Add(new Strategy(layout.ManifestFile.Replace(".vmcs", string.Empty, StringComparison.Ordinal), $"{layout.ManifestFile} with today's engine",
                layout, new NestedVmxOptions()));
        }

        return list;
    }
}
