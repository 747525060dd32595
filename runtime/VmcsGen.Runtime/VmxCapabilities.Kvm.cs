using System.Collections.Generic;
using System.Linq;
using VmcsGen.Backends.Kvm;

namespace VmcsGen;

public sealed partial class VmxCapabilities
{
    /// <summary>Every IA32_VMX_* capability MSR (0x480 to 0x492).</summary>
    public static IReadOnlyList<uint> CapabilityMsrs { get; } = Enumerable.Range(0x480, 0x13).Select(i => (uint)i).ToArray();

    /// <summary>The VMX capabilities KVM offers its guests, read through KVM's feature-MSR interface.</summary>
    /// <exception cref="KvmUnavailableException">KVM reports no IA32_VMX_BASIC: the CPU has no VMX or kvm_intel is not loaded.</exception>
    public static VmxCapabilities FromKvm(KvmSystem kvm)
    {
        var offered = kvm.GetMsrFeatureIndexList();
        if (!offered.Contains(VmxMsr.Basic))
        {
            throw new KvmUnavailableException(
                $"{kvm.Path} offers no VMX capability MSRs (IA32_VMX_BASIC is not among its {offered.Count} feature MSRs): the CPU has no VMX, or kvm_intel is not loaded");
        }

        return new VmxCapabilities(kvm.GetFeatureMsrs(CapabilityMsrs.Where(offered.Contains).ToList()));
    }
}
