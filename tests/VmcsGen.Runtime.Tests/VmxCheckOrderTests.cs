using NUnit.Framework;
using VmcsGen.Software;
using static VmcsGen.Runtime.Tests.VmxProcessorHelpers;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The order in which SoftwareVmx's VMX instructions check (#UD, #GP, VMfailInvalid, the field checks, the memory
/// fault), as the SDM's pseudo-code (Vol. 3C ch. 31) and Bochs (cpu/vmx.cc) give it, and VMXON/VMXOFF.
/// </summary>
public sealed class VmxCheckOrderTests
{
    [Test]
    public void OutsideVmxOperationOrInCompatibilityModeEveryVmxInstructionIsUd()
    {
        var cpu = new SoftwareVmx(VmxProfile.Kvm, VmxOperation.Outside);
        Assert.That(Read(cpu, GuestSsSelector).Vector, Is.EqualTo(InstructionOutcome.UD));
        Assert.That(cpu.ExecuteVmxoff(Ring0).Vector, Is.EqualTo(InstructionOutcome.UD));
        var root = Root();
        Assert.That(Read(root, GuestSsSelector, new VmxContext(CpuMode.Compatibility)).Vector, Is.EqualTo(InstructionOutcome.UD));
        Assert.That(root.ExecuteVmlaunch(new VmxContext(CpuMode.Virtual8086)).Vector, Is.EqualTo(InstructionOutcome.UD));
    }

    [Test]
    public void CplAboveZeroIsGpBeforeAnyVmfail()
    {
        var cpu = Root();
        Assert.That(Read(cpu, 0xFFFF, new VmxContext(Cpl: 3)).Vector, Is.EqualTo(InstructionOutcome.GP), "#GP(0) before VMfailInvalid");
        Assert.That(Vmptrld(cpu, 0x2001, new VmxContext(Cpl: 1)).Vector, Is.EqualTo(InstructionOutcome.GP));
    }

    [Test]
    public void VmfailInvalidComesBeforeTheFieldChecksAndTheMemoryFault()
    {
        var cpu = Root();
        cpu.Memory.MarkNotPresent(0x7000);
        // No current VMCS: VMREAD of an unsupported encoding is VMfailInvalid, and a faulting destination is never written.
        Assert.That(Read(cpu, 0xFFFF).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        Assert.That(cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000)).Kind,
            Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        // VMWRITE reads its memory source before the field checks (Bochs): #PF wins over VMfailValid(12).
        Assert.That(cpu.ExecuteVmwrite(Ring0, VmxOperand.Reg(Gpr.Rcx, 0xFFFF), VmxOperand.Mem(0x7000)).Vector, Is.EqualTo(InstructionOutcome.PF));
        // VMREAD writes its memory destination last: an unsupported field is VMfailValid(12), not #PF.
        Assert.That(cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, 0xFFFF), VmxOperand.Mem(0x7000)).Error,
            Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        // VMPTRLD reads its m64 operand after the CPL check and before the address checks.
        cpu.Memory.MarkNotPresent(0x9000);
        Assert.That(cpu.ExecuteVmptrld(Ring0, VmxOperand.Mem(0x9000)).Vector, Is.EqualTo(InstructionOutcome.PF));
    }

    [Test]
    public void TheEncodingRegisterIsReadAtTheModesWidth()
    {
        var cpu = Current();
        Write(cpu, TscOffset, 0x1111_2222_3333_4444);
        // 64-bit mode: bits 63:32 of the encoding register set is an unsupported component (Bochs: upper 32 bits not zero).
        Assert.That(Read(cpu, (1ul << 32) | TscOffset).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        Assert.That(Write(cpu, (1ul << 40) | TscOffset, 1).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        // 32-bit mode: the register is 32 bits wide; a 64-bit field reads its low half, and a write clears the high half.
        var protectedMode = VmxContext.Protected32;
        Assert.That(Read(cpu, (1ul << 32) | TscOffset, protectedMode).Value, Is.EqualTo(0x3333_4444ul));
        Assert.That(Write(cpu, TscOffset, 0xFFFF_FFFF_0000_0001, protectedMode).IsSuccess);
        Assert.That(Read(cpu, TscOffset).Value, Is.EqualTo(1ul));
    }

    [Test]
    public void ReadOnlyFieldsNeedVmwriteAny()
    {
        // SDM VMWRITE: a VM-exit information field without IA32_VMX_MISC bit 29 is VMfailValid(13).
        var cpu = new SoftwareVmx(vmwriteAny: false);
        cpu.CreateRegion(0x2000);
        cpu.VmPtrLd(0x2000);
        Assert.That(Write(cpu, ExitReason, 1).Error, Is.EqualTo(VmxInstructionError.VmwriteReadOnlyVmcsComponent));
        Assert.That(Root().ReadMsr(VmxMsr.Misc) & (1ul << 29), Is.Not.Zero, "KVM offers VMWRITE to any field");
    }

    [Test]
    public void VmxonAndVmxoffMoveInAndOutOfVmxOperation()
    {
        // SDM VMXON: an invalid region is VMfailInvalid; in VMX root operation VMXON is VMfail(15); VMXOFF leaves.
        var cpu = new SoftwareVmx(VmxProfile.Kvm, VmxOperation.Outside);
        cpu.Memory.WriteUInt64(0x9000, 0x1000);
        Assert.That(cpu.ExecuteVmxon(Ring0, VmxOperand.Mem(0x9000)).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid), "no revision at 0x1000");
        Region(cpu, 0x1000);
        Assert.That(cpu.ExecuteVmxon(Ring0, VmxOperand.Mem(0x9000), cr4Vmxe: false).Vector, Is.EqualTo(InstructionOutcome.UD));
        Assert.That(cpu.ExecuteVmxon(new VmxContext(Cpl: 3), VmxOperand.Mem(0x9000)).Vector, Is.EqualTo(InstructionOutcome.GP));
        Assert.That(cpu.ExecuteVmxon(Ring0, VmxOperand.Mem(0x9000)).IsSuccess);
        Assert.That((cpu.Operation, cpu.VmxonPointer), Is.EqualTo((VmxOperation.Root, 0x1000ul)));
        Assert.That(cpu.ExecuteVmxon(Ring0, VmxOperand.Mem(0x9000)).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid), "VMfail(15) without a current VMCS");
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(cpu.ExecuteVmxon(Ring0, VmxOperand.Mem(0x9000)).Error, Is.EqualTo(VmxInstructionError.VmxonInVmxRootOperation));
        Assert.That(cpu.ExecuteVmxoff(Ring0).IsSuccess);
        Assert.That(Read(cpu, GuestSsSelector).Vector, Is.EqualTo(InstructionOutcome.UD));
    }
}
