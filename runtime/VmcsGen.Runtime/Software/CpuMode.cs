namespace VmcsGen.Software;

/// <summary>The processor mode a VMX instruction executes in (what decides #UD and operand widths).</summary>
public enum CpuMode : byte
{
    /// <summary>IA-32e mode with CS.L = 1: 64-bit operands and encoding register.</summary>
    Long64,

    /// <summary>IA-32e mode with CS.L = 0: every VMX instruction is #UD.</summary>
    Compatibility,

    /// <summary>Protected mode outside IA-32e mode: 32-bit operands; a 64-bit field reads and writes its low 32 bits.</summary>
    Protected32,

    /// <summary>CR0.PE = 0: VMX instructions are #UD.</summary>
    Real,

    /// <summary>RFLAGS.VM = 1: VMX instructions are #UD.</summary>
    Virtual8086,
}
