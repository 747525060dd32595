using System;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// SoftwareVmx as a VMX processor, with checks ported in our own words from kvm-unit-tests (x86/vmx.c, x86/vmx_tests.c,
/// commit 1da1819e), Bochs (cpu/vmx.cc) and the SDM (Vol. 3C ch. 24-26 and 31). Each test names its source.
/// </summary>
public sealed class VmxProcessorTests
{
    private static readonly VmxContext Ring0 = VmxContext.Long64;
    private const ulong VmxonRegion = 0x1000;
    private const uint TscOffset = 0x2010, TscOffsetHigh = 0x2011, GuestSsSelector = 0x0804, ExitReason = 0x4402, InstructionError = 0x4400;

    /// <summary>A processor in VMX root operation with a VMCS region at <paramref name="address"/>, written as software writes it.</summary>
    private static SoftwareVmx Root(VmxProfile? profile = null) => new(profile ?? VmxProfile.Kvm);

    private static void Region(SoftwareVmx cpu, ulong address, bool shadow = false, uint? revision = null) =>
        cpu.Memory.WriteUInt32(address, (revision ?? cpu.Revision) | (shadow ? 0x8000_0000u : 0));

    /// <summary>VMPTRLD of a pointer kept in memory at 0x9000 (the m64 operand).</summary>
    private static InstructionOutcome Vmptrld(SoftwareVmx cpu, ulong address, VmxContext? context = null)
    {
        cpu.Memory.WriteUInt64(0x9000, address);
        return cpu.ExecuteVmptrld(context ?? Ring0, VmxOperand.Mem(0x9000));
    }

    private static InstructionOutcome Vmclear(SoftwareVmx cpu, ulong address)
    {
        cpu.Memory.WriteUInt64(0x9008, address);
        return cpu.ExecuteVmclear(Ring0, VmxOperand.Mem(0x9008));
    }

    private static InstructionOutcome Read(SoftwareVmx cpu, ulong encoding, VmxContext? context = null) =>
        cpu.ExecuteVmread(context ?? Ring0, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax));

    private static InstructionOutcome Write(SoftwareVmx cpu, ulong encoding, ulong value, VmxContext? context = null) =>
        cpu.ExecuteVmwrite(context ?? Ring0, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax, value));

    // ---- kvm-unit-tests x86/vmx.c ----------------------------------------------------------------------------------

    [Test]
    public void VmcsHighAccessesReadAndWriteTheUpperHalf()
    {
        // test_vmcs_high: a _HIGH encoding reads and writes bits 63:32 of the 64-bit field and leaves the rest alone.
        var cpu = Root();
        Region(cpu, 0x2000);
        Assert.That(Vmptrld(cpu, 0x2000).IsSuccess);
        Write(cpu, TscOffset, 0x0123_4567_89AB_CDEF);
        Assert.That((Read(cpu, TscOffset).Value, Read(cpu, TscOffsetHigh).Value), Is.EqualTo((0x0123_4567_89AB_CDEFul, 0x0123_4567ul)));
        Write(cpu, TscOffsetHigh, 0x7654_3210);
        Assert.That((Read(cpu, TscOffsetHigh).Value, Read(cpu, TscOffset).Value), Is.EqualTo((0x7654_3210ul, 0x7654_3210_89AB_CDEFul)));
    }

    [Test]
    public void EveryFieldReadsBackWhatWasWrittenAndVmcsEnumMatchesTheHighestIndex()
    {
        // test_vmwrite_vmread: VMWRITE every field, VMREAD it back; IA32_VMX_VMCS_ENUM's max index is the highest index supported.
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
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
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
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
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Write(cpu, GuestSsSelector, 0x33);
        cpu.Memory.MarkNotPresent(0x7000);
        var read = cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000));
        var write = cpu.ExecuteVmwrite(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000));
        Assert.That((read.Kind, read.Vector, write.Kind, write.Vector), Is.EqualTo((InstructionOutcomeKind.Exception, InstructionOutcome.PF, InstructionOutcomeKind.Exception, InstructionOutcome.PF)));
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x33));
    }

    // ---- the order of checks (SDM ch. 31 pseudo-code; Bochs VMREAD_EqGq/VMWRITE_GqEq/VMPTRLD) -----------------------

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
        Assert.That(cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, GuestSsSelector), VmxOperand.Mem(0x7000)).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        // VMWRITE reads its memory source before the field checks (Bochs): #PF wins over VMfailValid(12).
        Assert.That(cpu.ExecuteVmwrite(Ring0, VmxOperand.Reg(Gpr.Rcx, 0xFFFF), VmxOperand.Mem(0x7000)).Vector, Is.EqualTo(InstructionOutcome.PF));
        // VMREAD writes its memory destination last: an unsupported field is VMfailValid(12), not #PF.
        Assert.That(cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, 0xFFFF), VmxOperand.Mem(0x7000)).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        // VMPTRLD reads its m64 operand after the CPL check and before the address checks.
        cpu.Memory.MarkNotPresent(0x9000);
        Assert.That(cpu.ExecuteVmptrld(Ring0, VmxOperand.Mem(0x9000)).Vector, Is.EqualTo(InstructionOutcome.PF));
    }

    [Test]
    public void TheEncodingRegisterIsReadAtTheModesWidth()
    {
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
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

    // ---- the shadow VMCS seen from the guest (vmx_tests.c vmx_vmcs_shadow_test) -----------------------------------

    /// <summary>A processor running a guest on a working VMCS with VMCS shadowing, bitmaps at 0xA000/0xB000 and a shadow VMCS at 0x3000.</summary>
    private static SoftwareVmx Guest(ulong link = 0x3000, bool shadowing = true)
    {
        var cpu = new SoftwareVmx(VmxProfile.Kvm with { EntryChecks = false });
        Region(cpu, 0x2000);
        Region(cpu, 0x3000, shadow: true);
        Vmptrld(cpu, 0x2000);
        cpu.Memory.Write(0xA000, Enumerable.Repeat((byte)0xFF, 4096).ToArray());
        cpu.Memory.Write(0xB000, Enumerable.Repeat((byte)0xFF, 4096).ToArray());
        Write(cpu, 0x4002, VmxCapabilities.ActivateSecondaryControls);
        Write(cpu, 0x401E, shadowing ? VmxCapabilities.SecondaryVmcsShadowing : 0);
        Write(cpu, 0x2026, 0xA000);
        Write(cpu, 0x2028, 0xB000);
        Write(cpu, 0x2800, link);
        Assert.That(cpu.ExecuteVmlaunch(Ring0).IsSuccess);
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.NonRoot));
        return cpu;
    }

    private static void Allow(SoftwareVmx cpu, ulong bitmap, uint encoding)
    {
        var at = bitmap + (encoding >> 3);
        var bytes = new byte[1];
        cpu.Memory.Read(at, bytes);
        bytes[0] &= (byte)~(1 << (int)(encoding & 7));
        cpu.Memory.Write(at, bytes);
    }

    [Test]
    public void WithTheBitmapBitSetTheGuestsAccessExits()
    {
        var cpu = Guest();
        var exit = Read(cpu, GuestSsSelector);
        Assert.That((exit.Kind, exit.ExitReason), Is.EqualTo((InstructionOutcomeKind.VmExit, VmxExitReason.VmRead)));
        Assert.That(exit.InstructionInformation & (1u << 10), Is.Not.Zero, "a register operand");
        Assert.That(exit.InstructionInformation >> 28, Is.EqualTo((uint)Gpr.Rcx), "reg2 is the encoding register");
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.Root));
        Assert.That(Read(cpu, ExitReason).Value, Is.EqualTo((ulong)VmxExitReason.VmRead), "the exit reason is in the working VMCS");
    }

    [Test]
    public void AClearBitmapBitServesTheAccessFromTheShadowVmcs()
    {
        var cpu = Guest();
        Allow(cpu, 0xA000, GuestSsSelector);
        Allow(cpu, 0xB000, GuestSsSelector);
        Assert.That(Write(cpu, GuestSsSelector, 0x2B).IsSuccess);
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x2Bul));
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.NonRoot), "no VM exit");
        Assert.That(cpu.Peek(0x3000, GuestSsSelector), Is.EqualTo(0x2Bul), "the value is in the shadow VMCS");
        Assert.That(cpu.Peek(0x2000, GuestSsSelector), Is.Zero, "not in the working VMCS");
        // A write allowed by the VMWRITE bitmap only, with the VMREAD bit set: the read still exits.
        Allow(cpu, 0xB000, 0x0806);
        Assert.That(Write(cpu, 0x0806, 1).IsSuccess);
        Assert.That(Read(cpu, 0x0806).Kind, Is.EqualTo(InstructionOutcomeKind.VmExit));
    }

    [Test]
    public void EncodingsAboveBit14AlwaysExitAndUnsupportedOnesFailIntoTheWorkingVmcs()
    {
        var cpu = Guest();
        Assert.That(Read(cpu, 0x8000 | GuestSsSelector).ExitReason, Is.EqualTo(VmxExitReason.VmRead), "bits 63:15 set: VM exit whatever the bitmap");
        cpu = Guest();
        Allow(cpu, 0xA000, 0x0006); // no such field
        var fail = Read(cpu, 0x0006);
        Assert.That(fail.Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        Assert.That(cpu.Peek(0x2000, InstructionError), Is.EqualTo(12ul), "SDM 31.2: VMfailValid writes the current (working) VMCS");
        Assert.That(cpu.Peek(0x3000, InstructionError), Is.Zero);
    }

    [Test]
    public void LinkPointerMinusOneIsVmfailInvalidAndShadowingOffAlwaysExits()
    {
        var cpu = Guest(link: ulong.MaxValue);
        Allow(cpu, 0xA000, GuestSsSelector);
        Assert.That(Read(cpu, GuestSsSelector).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        cpu = Guest(shadowing: false);
        Allow(cpu, 0xA000, GuestSsSelector);
        Assert.That(Read(cpu, GuestSsSelector).ExitReason, Is.EqualTo(VmxExitReason.VmRead));
        cpu = Guest();
        Assert.That(Vmptrld(cpu, 0x2000).ExitReason, Is.EqualTo(VmxExitReason.VmPtrLd), "other VMX instructions exit unconditionally");
    }

    // ---- VM-entry checks (SDM 26.2-26.3; vmx_tests.c vmx_controls_test, vmx_host_state_area_test, vmx_guest_state_area_test)

    /// <summary>A VMCS that passes every modelled entry check on the KVM profile: 64-bit host and guest, flat state.</summary>
    private static SoftwareVmx ValidVmcs()
    {
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        foreach (var (field, value) in ValidEntryState.For(cpu.Profile))
        {
            Write(cpu, field, value);
        }

        return cpu;
    }

    [Test]
    public void AValidVmcsLaunchesAndThenNeedsVmresume()
    {
        var cpu = ValidVmcs();
        Assert.That(cpu.ExecuteVmlaunch(Ring0).IsSuccess);
        Assert.That(cpu.ExecuteVmlaunch(Ring0).ExitReason, Is.EqualTo(VmxExitReason.VmLaunch), "in VMX non-root operation VMLAUNCH exits");
        Assert.That(cpu.ExecuteVmlaunch(Ring0).Error, Is.EqualTo(VmxInstructionError.VmlaunchNonClearVmcs));
        Assert.That(cpu.ExecuteVmresume(Ring0).IsSuccess);
    }

    [Test]
    public void VmcsShadowingWithAnUnalignedBitmapIsAnInvalidControlField()
    {
        // SDM 26.2.1.1: with "VMCS shadowing", the VMREAD- and VMWRITE-bitmap addresses are 4 KiB aligned.
        var cpu = ValidVmcs();
        Write(cpu, 0x4002, Read(cpu, 0x4002).Value | VmxCapabilities.ActivateSecondaryControls);
        Write(cpu, 0x401E, VmxCapabilities.SecondaryVmcsShadowing);
        Write(cpu, 0x2026, 0xA004);
        Write(cpu, 0x2028, 0xB000);
        var outcome = cpu.ExecuteVmlaunch(Ring0);
        Assert.That(outcome.Error, Is.EqualTo(VmxInstructionError.EntryInvalidControlField), outcome.ToString());
        Assert.That(outcome.Rule, Does.Contain("VMREAD- and VMWRITE-bitmap"));
        Assert.That(Read(cpu, InstructionError).Value, Is.EqualTo(7ul));
        Assert.That(cpu.IsLaunched(0x2000), Is.False);
    }

    [TestCase(0x4000u, 0u, "pin-based controls", TestName = "pin-based controls without their must-be-one bits")]
    [TestCase(0x400Au, 1u, "CR3-target count", TestName = "a CR3-target count above what KVM's MISC allows (0)")]
    [TestCase(0x401Cu, 0x10u, "", TestName = "TPR threshold is ignored without the TPR shadow")]
    public void ControlFieldChecks(uint field, uint value, string rule)
    {
        var cpu = ValidVmcs();
        Write(cpu, field, value);
        var outcome = cpu.ExecuteVmlaunch(Ring0);
        if (rule.Length == 0)
        {
            Assert.That(outcome.IsSuccess, outcome.ToString());
        }
        else
        {
            Assert.That(outcome.Error, Is.EqualTo(VmxInstructionError.EntryInvalidControlField), outcome.ToString());
            Assert.That(outcome.Rule, Does.Contain(rule));
        }
    }

    [TestCase(0x6C00u, 0x8005_0032ul, TestName = "host CR0 without PE")]
    [TestCase(0x0C02u, 0x0Bul, TestName = "host CS with RPL 3")]
    [TestCase(0x0C0Cu, 0ul, TestName = "host TR selector 0")]
    [TestCase(0x6C16u, 0x0000_8000_0000_0000ul, TestName = "a non-canonical host RIP")]
    public void HostStateChecksAreVmfailValid8(uint field, ulong value)
    {
        var cpu = ValidVmcs();
        Write(cpu, field, value);
        var outcome = cpu.ExecuteVmlaunch(Ring0);
        Assert.That(outcome.Error, Is.EqualTo(VmxInstructionError.EntryInvalidHostStateField), outcome.ToString());
    }

    [TestCase(0x6820u, 0x0ul, 0ul, TestName = "guest RFLAGS without bit 1")]
    [TestCase(0x6800u, 0x0000_0031ul, 0ul, TestName = "an IA-32e guest without CR0.PG")]
    [TestCase(0x4824u, 0x3ul, 0ul, TestName = "STI and MOV-SS blocking together")]
    [TestCase(0x2800u, 0x5000ul, 4ul, TestName = "a link pointer to a region of another revision")]
    public void GuestStateChecksAreEntryFailures(uint field, ulong value, ulong qualification)
    {
        var cpu = ValidVmcs();
        Write(cpu, field, value);
        var outcome = cpu.ExecuteVmlaunch(Ring0);
        Assert.That((outcome.Kind, outcome.ExitReason, outcome.ExitQualification),
            Is.EqualTo((InstructionOutcomeKind.EntryFailure, VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit, qualification)), outcome.ToString());
        Assert.That(Read(cpu, ExitReason).Value, Is.EqualTo((ulong)(VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit)));
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.Root));
    }

    [Test]
    public void MovSsBlockingComesBeforeTheLaunchStateAndTheFieldChecks()
    {
        // SDM VMLAUNCH: "events are being blocked by MOV SS" is VMfailValid(26), checked before the launch state (4/5).
        var cpu = Root();
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(cpu.ExecuteVmresume(new VmxContext(BlockingByMovSs: true)).Error, Is.EqualTo(VmxInstructionError.EntryEventsBlockedByMovSs));
        Assert.That(cpu.ExecuteVmresume(Ring0).Error, Is.EqualTo(VmxInstructionError.VmresumeNonLaunchedVmcs));
        Assert.That(cpu.ExecuteVmlaunch(Ring0).Error, Is.EqualTo(VmxInstructionError.EntryInvalidControlField), "a zeroed VMCS fails the control checks");
    }

    [Test]
    public void AShadowVmcsCannotBeLaunched()
    {
        // SDM 24.10: VMLAUNCH/VMRESUME with a shadow VMCS current fail with VMfailInvalid.
        var cpu = Root();
        Region(cpu, 0x3000, shadow: true);
        Assert.That(Vmptrld(cpu, 0x3000).IsSuccess, "VMPTRLD takes a shadow VMCS when the CPU supports shadowing");
        Assert.That(cpu.ExecuteVmlaunch(Ring0).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        var noShadowing = new SoftwareVmx(vmcsShadowing: false);
        Region(noShadowing, 0x2000);
        Region(noShadowing, 0x3000, shadow: true);
        Vmptrld(noShadowing, 0x2000);
        Assert.That(Vmptrld(noShadowing, 0x3000).Error, Is.EqualTo(VmxInstructionError.VmptrldIncorrectVmcsRevisionId), "the shadow bit needs VMCS shadowing");
    }

    // ---- profiles ------------------------------------------------------------------------------------------------

    [Test]
    public void TheKvmProfileIsVmcs12AsKvmEmulatesIt()
    {
        var cpu = Root();
        Assert.That(cpu.ReadMsr(VmxMsr.Basic) & 0x7FFF_FFFF, Is.EqualTo(0x11e57ed0ul), "VMCS12_REVISION");
        Assert.That((cpu.ReadMsr(VmxMsr.VmcsEnum) >> 1) & 0x1FF, Is.EqualTo(0x19ul), "highest index: TSC_MULTIPLIER");
        Assert.That((cpu.ReadMsr(VmxMsr.Misc) >> 16) & 0x1FF, Is.Zero, "no CR3 targets");
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(Read(cpu, 0x6008).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent), "CR3_TARGET_VALUE0 is vmcs12's dead space");
        Write(cpu, 0x4814, 0xFFFF_FFFF);
        Assert.That(Read(cpu, 0x4814).Value, Is.EqualTo(0x1F0FFul), "vmcs12_write_any masks AR bytes with 0x1f0ff");
    }

    [Test]
    public void AHardwareProfileFollowsItsCapabilityMsrs()
    {
        var msrs = VmxProfile.ReferenceCpu.ToDictionary(kv => kv.Key, kv => kv.Value);
        msrs[VmxMsr.ProcBasedCtls2] &= ~((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32);
        var profile = VmxProfile.Hardware(msrs);
        var cpu = new SoftwareVmx(profile);
        Assert.That(profile.Revision, Is.EqualTo(4u));
        Assert.That((profile.Catalog.Supports(0x2026), profile.Catalog.Supports(0x2028)), Is.EqualTo((false, false)), "no shadowing, no bitmap fields");
        Assert.That(cpu.ReadMsr(VmxMsr.ProcBasedCtls2) & ((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32), Is.Zero);
        Assert.That((cpu.ReadMsr(VmxMsr.Misc) >> 16) & 0x1FF, Is.EqualTo(4ul));
        Assert.That(profile.Catalog.Supports(0x600E), Is.True, "4 CR3-target values");
        Assert.That((cpu.ReadMsr(VmxMsr.VmcsEnum) >> 1) & 0x1FF, Is.EqualTo(profile.Catalog.HighestIndex));
        Assert.That(new SoftwareVmx(vmcsShadowing: false).Catalog.Supports(0x2026), Is.False, "the field-by-field constructor agrees");
    }
}
