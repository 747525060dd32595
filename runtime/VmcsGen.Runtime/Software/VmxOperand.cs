namespace VmcsGen.Software;

/// <summary>
/// An instruction operand: a register with its value, or memory at a linear address (which may fault with #PF when its
/// page is marked not present in <see cref="PhysicalMemory"/>; linear = physical in this model).
/// </summary>
public readonly record struct VmxOperand(bool IsMemory, Gpr Register, ulong Value)
{
    public static VmxOperand Reg(Gpr register, ulong value = 0) => new(false, register, value);

    public static VmxOperand Mem(ulong linearAddress) => new(true, Gpr.Rax, linearAddress);

    /// <summary>For a memory operand, its linear address.</summary>
    public ulong Address => Value;
}
