namespace VmcsGen.Software;

/// <summary>
/// The context of one VMX instruction: the mode, the CPL, and the interruptibility state that VMLAUNCH/VMRESUME check.
/// The VMX operation (outside, root, non-root) is the processor's own state.
/// </summary>
public readonly record struct VmxContext(CpuMode Mode = CpuMode.Long64, int Cpl = 0, bool BlockingByMovSs = false)
{
    public static VmxContext Long64 => default;

    public static VmxContext Protected32 => new(CpuMode.Protected32);

    /// <summary>Operand width in bits: 64 in 64-bit mode, 32 otherwise.</summary>
    public int OperandBits => Mode == CpuMode.Long64 ? 64 : 32;
}
