using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;
using static VmcsGen.Runtime.Tests.VmxProcessorHelpers;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// SoftwareVmx's VMX instructions against the checks of kvm-unit-tests x86/vmx.c (commit 1da1819e), ported in our own
/// words: _HIGH accesses, every field read back, the VMCS lifecycle, VMCLEAR's flush, bad pointers, VMPTRST, a faulting
/// operand. Each test names its source.
/// </summary>
public sealed class VmxInstructionTests
{
    [Test]
    public void VmcsHighAccessesReadAndWriteTheUpperHalf()
    {
        // test_vmcs_high: a _HIGH encoding reads and writes bits 63:32 of the 64-bit field and leaves the rest alone.
        var cpu = Current();
        Write(cpu, TscOffset, 0x0123_4567_89AB_CDEF);
        Assert.That((Read(cpu, TscOffset).Value, Read(cpu, TscOffsetHigh).Value), Is.EqualTo((0x0123_4567_89AB_CDEFul, 0x0123_4567ul)));
        Write(cpu, TscOffsetHigh, 0x7654_3210);
        Assert.That((Read(cpu, TscOffsetHigh).Value, Read(cpu, TscOffset).Value), Is.EqualTo((0x7654_3210ul, 0x7654_3210_89AB_CDEFul)));
    }

    [Test]
    public void EveryFieldReadsBackWhatWasWrittenAndVmcsEnumMatchesTheHighestIndex()
    {
        // test_vmwrite_vmread: VMWRITE every field, VMREAD it back; IA32_VMX_VMCS_ENUM's max index is the highest index supported.
        var cpu = Current();
        var encodings = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => cpu.Catalog.Supports(e) && !VmcsEncoding.IsHighAccess(e)).ToList();
        foreach (var e in encodings)
        {
            Assert.That(Write(cpu, e, 0x42 + e).IsSuccess, $"0x{e:X4}");
        }

        foreach (var e in encodings)
        {
            var arBytes = e is >= 0x4814 and <= 0x4822 ? 0x1F0FFul : ulong.MaxValue; // KVM masks access rights
            Assert.That(Read(cpu, e).Value, Is.EqualTo((0x42 + e) & VmcsEncoding.AccessMask(e) & arBytes), $"0x{e:X4}");
        }

        var maxIndex = encodings.Max(e => VmcsEncoding.Index(e));
        Assert.That((cpu.ReadMsr(VmxMsr.VmcsEnum) >> 1) & 0x1FF, Is.EqualTo(maxIndex));
    }

    [Test]
    public void VmcsLifecycleKeepsEachVmcsDataAcrossClearAndLoad()
    {
        // test_vmcs_lifecycle: two VMCSes, VMCLEAR/VMPTRLD in every order; a VMCS keeps its data; VMPTRLD of the current
        // VMCS does not erase VMWRITEs.
        var cpu = Root();
        Region(cpu, 0x2000);
        Region(cpu, 0x3000);
        void Set(ulong v) => Write(cpu, GuestSsSelector, v);
        ulong Get() => Read(cpu, GuestSsSelector).Value;
        Vmclear(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Set(0x10);
        Vmclear(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(Get(), Is.EqualTo(0x10));
        Vmclear(cpu, 0x3000);
        Assert.That(Get(), Is.EqualTo(0x10), "VMCLEAR of another VMCS leaves the current one");
        Vmptrld(cpu, 0x3000);
        Set(0x11);
        Vmptrld(cpu, 0x2000);
        Assert.That(Get(), Is.EqualTo(0x10));
        Vmptrld(cpu, 0x3000);
        Assert.That(Get(), Is.EqualTo(0x11));
        Vmclear(cpu, 0x2000);
        Set(0x12);
        Vmptrld(cpu, 0x3000);
        Assert.That(Get(), Is.EqualTo(0x12));
    }

    [Test]
    public void VmclearFlushesTheDataToMemorySoACopiedRegionLoads()
    {
        // test_vmclear_flushing: after VMCLEAR the region in memory holds the VMCS; a byte copy of it loads with the same fields,
        // whether the cleared VMCS was current or not.
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmclear(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Write(cpu, GuestSsSelector, 0x86);
        Vmclear(cpu, 0x2000);
        cpu.Memory.Copy(0x2000, 0x3000, 4096);
        Assert.That(Vmptrld(cpu, 0x3000).IsSuccess);
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x86));
        Write(cpu, GuestSsSelector, 0x87);
        Vmptrld(cpu, 0x2000);
        Vmclear(cpu, 0x3000);
        cpu.Memory.Copy(0x3000, 0x4000, 4096);
        Vmptrld(cpu, 0x4000);
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x87));
    }

    [Test]
    public void VmclearAndVmptrldRejectBadPointersWithTheirErrorNumbers()
    {
        // test_vmclear / test_vmptrld: unaligned, beyond MAXPHYADDR, the VMXON region; SDM errors 2/3 and 9/10/11.
        var cpu = Current();
        Assert.That(Vmclear(cpu, 0x2001).Error, Is.EqualTo(VmxInstructionError.VmclearInvalidAddress));
        Assert.That(Vmclear(cpu, 0x2000 | (1ul << 47)).Error, Is.EqualTo(VmxInstructionError.VmclearInvalidAddress));
        Assert.That(Vmclear(cpu, VmxonRegion).Error, Is.EqualTo(VmxInstructionError.VmclearVmxonPointer));
        Assert.That(Vmptrld(cpu, 0x2001).Error, Is.EqualTo(VmxInstructionError.VmptrldInvalidAddress));
        Assert.That(Vmptrld(cpu, VmxonRegion).Error, Is.EqualTo(VmxInstructionError.VmptrldVmxonPointer));
        Assert.That(Read(cpu, InstructionError).Value, Is.EqualTo((ulong)VmxInstructionError.VmptrldVmxonPointer), "stored in the current VMCS");
        Region(cpu, 0x5000, revision: 0x1234);
        Assert.That(Vmptrld(cpu, 0x5000).Error, Is.EqualTo(VmxInstructionError.VmptrldIncorrectVmcsRevisionId));
        Assert.That(Vmptrld(cpu, 0x2000).IsSuccess);
        Assert.That(Vmclear(cpu, 0x2000).IsSuccess);
        Assert.That(cpu.CurrentPointer, Is.EqualTo(SoftwareVmx.InvalidPointer), "VMCLEAR of the current VMCS leaves none");
        Assert.That(Vmptrld(cpu, 0x2001).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid), "VMfail without a current VMCS is VMfailInvalid");
    }

    [Test]
    public void VmptrstStoresTheCurrentPointer()
    {
        // test_vmptrst.
        var cpu = Root();
        Assert.That(cpu.ExecuteVmptrst(Ring0, VmxOperand.Mem(0x9100)).Value, Is.EqualTo(SoftwareVmx.InvalidPointer));
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(cpu.ExecuteVmptrst(Ring0, VmxOperand.Mem(0x9100)).IsSuccess);
        Assert.That(cpu.Memory.ReadUInt64(0x9100), Is.EqualTo(0x2000ul));
        Assert.That(cpu.ExecuteVmptrst(Ring0, VmxOperand.Reg(Gpr.Rax)).Vector, Is.EqualTo(InstructionOutcome.UD), "a register operand is #UD");
    }

    [Test]
    public void AFaultingMemoryOperandIsAPageFaultAndChangesNothing()
    {
        // test_vmread_vmwrite_pf: VMREAD/VMWRITE with a not-present memory operand take #PF and leave RFLAGS (the outcome) alone.
        var cpu = Current();
        Write(cpu, GuestSsSelector, 0x33);
        cpu.Memory.MarkNotPresent(0x7000);
        var read = cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000));
        var write = cpu.ExecuteVmwrite(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000));
        Assert.That((read.Kind, read.Vector, write.Kind, write.Vector),
            Is.EqualTo((InstructionOutcomeKind.Exception, InstructionOutcome.PF, InstructionOutcomeKind.Exception, InstructionOutcome.PF)));
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x33));
    }
}
