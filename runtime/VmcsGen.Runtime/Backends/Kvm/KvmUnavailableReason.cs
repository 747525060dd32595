namespace VmcsGen.Backends.Kvm;

/// <summary>Why a <see cref="KvmUnavailableException"/> was thrown.</summary>
public enum KvmUnavailableReason
{
    /// <summary>Thrown through the message-only constructor.</summary>
    Unspecified,

    /// <summary>Not Linux.</summary>
    NotLinux,

    /// <summary>No KVM device at the path (ENOENT/ENODEV): no kvm module, or no virtualization support.</summary>
    NoDevice,

    /// <summary>The device exists but this process may not open it (EACCES/EPERM).</summary>
    PermissionDenied,

    /// <summary>KVM_GET_API_VERSION is not 12.</summary>
    ApiVersionMismatch,

    /// <summary>The CPU has no VMX, or kvm_intel is not the KVM module (an AMD host, a KVM without nested state).</summary>
    NoVmx,

    /// <summary>kvm_intel is loaded on a VMX CPU with <c>nested=0</c>: KVM offers L1 no VMX.</summary>
    NestedOff,

    /// <summary>KVM has no KVM_CAP_NESTED_STATE.</summary>
    NoNestedState,
}
