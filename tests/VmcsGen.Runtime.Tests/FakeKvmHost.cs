namespace VmcsGen.Runtime.Tests;

/// <summary>Which vendor module backs the fake /dev/kvm.</summary>
public enum FakeKvmHost
{
    /// <summary>kvm_intel: VMX. Its nested-state size is 128 + 2 × 4096 whatever <c>nested</c> is.</summary>
    Intel,

    /// <summary>kvm_amd: SVM, no VMX; nested-state size 128 + 4096.</summary>
    Amd,

    /// <summary>A KVM with no nested_ops state hooks (this development machine's kvm_pvm): KVM_CAP_NESTED_STATE is 0.</summary>
    NoNested,
}
