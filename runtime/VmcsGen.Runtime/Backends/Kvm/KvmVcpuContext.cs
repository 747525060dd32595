namespace VmcsGen.Backends.Kvm;

/// <summary>What of the vCPU KVM_SET_NESTED_STATE's verdict also depends on (see <see cref="KvmNestedState.ValidateFor"/>).</summary>
/// <param name="VmxInCpuid">The vCPU's CPUID has VMX (X86_FEATURE_VMX).</param>
/// <param name="PhysicalAddressWidth">The vCPU's MAXPHYADDR: VMXON and vmcs12 pointers must lie below it.</param>
/// <param name="InSmm">The vCPU is in SMM.</param>
/// <param name="EnlightenedVmcsEnabled">KVM_CAP_HYPERV_ENLIGHTENED_VMCS was enabled on the vCPU.</param>
/// <param name="Capabilities">The VMX capability MSRs the vCPU reports; when given, vmcs12's controls are checked against them.</param>
public sealed record KvmVcpuContext(
    bool VmxInCpuid = true, int PhysicalAddressWidth = 46, bool InSmm = false, bool EnlightenedVmcsEnabled = false, VmxCapabilities? Capabilities = null);
