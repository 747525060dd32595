using System.Collections.Generic;
using System.Linq;
using VmcsGen.Backends.Kvm;

namespace VmcsGen;

public sealed partial class VmxCapabilities
{
    /// <summary>Every IA32_VMX_* capability MSR (0x480 to 0x492).</summary>
    public static IReadOnlyList<uint> CapabilityMsrs { get; } = Enumerable.Range(0x480, 0x13).Select(i => (uint)i).ToArray();

    /// <summary>
    /// KVM_CAP_NESTED_STATE of kvm_intel: <c>vmx_get_nested_state(NULL)</c> = 128 + sizeof(struct kvm_vmx_nested_state_data), whatever <c>nested</c> is.
    /// </summary>
    public const int KvmIntelNestedStateSize = KvmNestedState.HeaderSize + (2 * KvmNestedState.Vmcs12Size);

    /// <summary>KVM_CAP_NESTED_STATE of kvm_amd: <c>svm_get_nested_state(NULL)</c> = 128 + KVM_STATE_NESTED_SVM_VMCB_SIZE.</summary>
    public const int KvmAmdNestedStateSize = KvmNestedState.HeaderSize + KvmNestedState.SvmVmcbSize;

    /// <summary>The VMX capabilities KVM offers its guests, read through KVM's feature-MSR interface.</summary>
    /// <exception cref="KvmUnavailableException">
    /// KVM reports no IA32_VMX_BASIC. <see cref="KvmUnavailableException.Reason"/> says why: <see cref="KvmUnavailableReason.NestedOff"/>
    /// (kvm_intel loaded with <c>nested=0</c>) or <see cref="KvmUnavailableReason.NoVmx"/> (no VMX, or not kvm_intel).
    /// </exception>
    public static VmxCapabilities FromKvm(KvmSystem kvm)
    {
        var offered = kvm.GetMsrFeatureIndexList();
        if (!offered.Contains(VmxMsr.Basic))
        {
            throw WhyNoVmxMsrs(kvm, offered.Count);
        }

        return new VmxCapabilities(kvm.GetFeatureMsrs(CapabilityMsrs.Where(offered.Contains).ToList()));
    }

    /// <summary>
    /// Tells "nested VMX is off" from "no VMX". With kvm_intel's <c>nested=0</c>, <c>vmx_get_feature_msr</c>
    /// (<c>vmx_get_msr_feature</c> before Linux 6.10, arch/x86/kvm/vmx/vmx.c) refuses every IA32_VMX_* MSR, so
    /// <c>kvm_init_msr_lists</c> leaves them out of KVM_GET_MSR_FEATURE_INDEX_LIST exactly as on a CPU without VMX; and
    /// <c>vmx_set_cpu_caps</c> sets CPUID.1:ECX.VMX in KVM_GET_SUPPORTED_CPUID only <c>if (nested)</c>, so the supported
    /// CPUID cannot tell the cases apart either. What can: kvm_intel's <c>nested</c> parameter where sysfs is readable, and
    /// KVM_CAP_NESTED_STATE, which is <c>vmx_get_nested_state(NULL)</c> = 128 + 8192 on kvm_intel whatever <c>nested</c> is
    /// (nested.c; x86.c <c>kvm_vm_ioctl_check_extension</c>), 128 + 4096 on kvm_amd and 0 on a KVM without nested state.
    /// </summary>
    private static KvmUnavailableException WhyNoVmxMsrs(KvmSystem kvm, int featureMsrs)
    {
        var what = $"{kvm.Path} offers no VMX capability MSRs (IA32_VMX_BASIC is not among its {featureMsrs} feature MSRs)";
        const string fix = "turn it on: modprobe -r kvm_intel && modprobe kvm_intel nested=1 (or options kvm_intel nested=1 in /etc/modprobe.d)";
        var nestedState = kvm.CheckExtension(KvmIoctls.CapNestedState);
        const string parameter = "/sys/module/kvm_intel/parameters/nested";
        var nested = kvm.Device.ReadHostFile(parameter);
        if (nested is "N" or "0")
        {
            return new KvmUnavailableException(KvmUnavailableReason.NestedOff,
                $"{what}: nested VMX is off ({parameter} is {nested}; KVM_CAP_NESTED_STATE is {nestedState}); {fix}");
        }

        if (nestedState == KvmIntelNestedStateSize)
        {
            return new KvmUnavailableException(KvmUnavailableReason.NestedOff,
                $"{what}: nested VMX is off (kvm_intel is loaded: KVM_CAP_NESTED_STATE is {nestedState}, the VMX size 128 + 2 × 4096); {fix}");
        }

        if (nestedState == KvmAmdNestedStateSize || kvm.Device.ReadHostFile("/sys/module/kvm_amd") is not null)
        {
            return new KvmUnavailableException(KvmUnavailableReason.NoVmx,
                $"{what}: the CPU has no VMX: this KVM is kvm_amd (SVM; KVM_CAP_NESTED_STATE is {nestedState})");
        }

        return new KvmUnavailableException(KvmUnavailableReason.NoVmx,
            $"{what}: the CPU has no VMX, or kvm_intel is not loaded (KVM_CAP_NESTED_STATE is {nestedState})");
    }
}
