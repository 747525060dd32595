namespace VmcsGen.Backends.Kvm;

/// <summary>One leaf of <c>struct kvm_cpuid_entry2</c>.</summary>
public readonly record struct KvmCpuidEntry(uint Function, uint Index, uint Flags, uint Eax, uint Ebx, uint Ecx, uint Edx);
