using System;

namespace VmcsGen.Backends.Kvm;

/// <summary>Flags of <c>struct kvm_nested_state</c> (include/uapi/asm/kvm.h).</summary>
[Flags]
public enum KvmNestedStateFlags : ushort
{
    None = 0,
    GuestMode = 0x1,
    RunPending = 0x2,
    Evmcs = 0x4,
    MtfPending = 0x8,

    /// <summary>SVM's global interrupt flag; KVM's generic check lets it through, the VMX code ignores it once in VMX operation.</summary>
    GifSet = 0x100,
}
