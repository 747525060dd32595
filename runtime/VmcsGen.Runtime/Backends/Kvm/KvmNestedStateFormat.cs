namespace VmcsGen.Backends.Kvm;

/// <summary><c>kvm_nested_state.format</c>.</summary>
public enum KvmNestedStateFormat : ushort
{
    Vmx = 0,
    Svm = 1,
}
