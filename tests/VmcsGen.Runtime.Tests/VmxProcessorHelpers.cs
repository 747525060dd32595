using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// How the SoftwareVmx processor tests drive the processor: a processor in VMX root operation, VMCS regions written as
/// software writes them, and VMPTRLD/VMCLEAR/VMREAD/VMWRITE as instructions with their operands.
/// </summary>
internal static class VmxProcessorHelpers
{
    internal static readonly VmxContext Ring0 = VmxContext.Long64;
    internal const ulong VmxonRegion = 0x1000;
    internal const uint TscOffset = 0x2010, TscOffsetHigh = 0x2011, GuestSsSelector = 0x0804, ExitReason = 0x4402, InstructionError = 0x4400;

    /// <summary>A processor in VMX root operation (KVM's profile unless one is given), without a current VMCS.</summary>
    internal static SoftwareVmx Root(VmxProfile? profile = null) => new(profile ?? VmxProfile.Kvm);

    /// <summary>A processor in VMX root operation whose current VMCS is a zeroed region at 0x2000, loaded by VMPTRLD.</summary>
    internal static SoftwareVmx Current()
    {
        var cpu = Root();
        Region(cpu, 0x2000);
        Assert.That(Vmptrld(cpu, 0x2000).IsSuccess);
        return cpu;
    }

    /// <summary>A VMCS region at <paramref name="address"/>, written as software writes it: the revision identifier and shadow-VMCS indicator.</summary>
    internal static void Region(SoftwareVmx cpu, ulong address, bool shadow = false, uint? revision = null) =>
        cpu.Memory.WriteUInt32(address, (revision ?? cpu.Revision) | (shadow ? 0x8000_0000u : 0));

    /// <summary>VMPTRLD of a pointer kept in memory at 0x9000 (the m64 operand).</summary>
    internal static InstructionOutcome Vmptrld(SoftwareVmx cpu, ulong address, VmxContext? context = null)
    {
        cpu.Memory.WriteUInt64(0x9000, address);
        return cpu.ExecuteVmptrld(context ?? Ring0, VmxOperand.Mem(0x9000));
    }

    internal static InstructionOutcome Vmclear(SoftwareVmx cpu, ulong address)
    {
        cpu.Memory.WriteUInt64(0x9008, address);
        return cpu.ExecuteVmclear(Ring0, VmxOperand.Mem(0x9008));
    }

    internal static InstructionOutcome Read(SoftwareVmx cpu, ulong encoding, VmxContext? context = null) =>
        cpu.ExecuteVmread(context ?? Ring0, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax));

    internal static InstructionOutcome Write(SoftwareVmx cpu, ulong encoding, ulong value, VmxContext? context = null) =>
        cpu.ExecuteVmwrite(context ?? Ring0, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax, value));
}
