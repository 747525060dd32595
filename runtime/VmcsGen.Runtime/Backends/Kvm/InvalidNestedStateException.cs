using System;

namespace VmcsGen.Backends.Kvm;

/// <summary>A blob that KVM_SET_NESTED_STATE would refuse, or a vCPU that cannot take it: names the byte offset, the field and KVM's rule.</summary>
public sealed class InvalidNestedStateException(int offset, string field, string rule)
    : FormatException($"kvm_nested_state: byte offset {offset} ({field}): {rule}")
{
    public int Offset { get; } = offset;

    public string Field { get; } = field;
}
