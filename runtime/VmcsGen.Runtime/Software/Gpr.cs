namespace VmcsGen.Software;

/// <summary>A general-purpose register, as the VM-exit instruction-information field numbers them.</summary>
public enum Gpr : byte
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}
