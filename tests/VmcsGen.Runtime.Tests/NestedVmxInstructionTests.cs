using NUnit.Framework;
using VmcsGen.Nested;
using static VmcsGen.Runtime.Tests.NestedRoundTrips;
using Kvm = VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// L1's VMX instructions on the engine as the SDM and KVM's handlers define them: VMPTRLD of a shadow-VMCS region,
/// VMfailValid's error number, VMXON, VMXOFF, and encodings with bits 63:15 set.
/// </summary>
public sealed class NestedVmxInstructionTests
{
    [TestCase(true, TestName = "L1 may VMPTRLD a shadow-VMCS region when L0 offers shadowing (handle_vmptrld)")]
    [TestCase(false, TestName = "without shadowing for L1 the shadow bit is a bad revision (11)")]
    public void AShadowBitInL1sRegion(bool l1Shadowing)
    {
        foreach (var engine in new INestedEngine[]
        {
            SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { L1VmcsShadowing = l1Shadowing }).Engine,
            SoftwareNested.CreateReference<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { L1VmcsShadowing = l1Shadowing }),
        })
        {
            engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
            Assert.That(engine.Memory.TryGet(Region, out var image));
            image[3] |= 0x80;
            var result = engine.L1VmPtrLd(Region);
            Assert.That(result, Is.EqualTo(l1Shadowing ? VmxResult.Succeed : VmxResult.FailInvalid), engine.GetType().Name);
        }
    }

    [Test]
    public void VmfailValidStoresTheErrorInVmcs12WhereL1ReadsIt()
    {
        var engine = Running();
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmlaunchNonClearVmcs)));
        Assert.That(engine.L1VmRead(0x4400, out var error), Is.EqualTo(VmxResult.Succeed));
        Assert.That(error, Is.EqualTo(4ul));
    }

    /// <summary>
    /// SDM VMXON pseudocode and KVM's handle_vmxon: VMXON in VMX operation is VMfail(15), recorded in vmcs12's
    /// VM_INSTRUCTION_ERROR where L1 reads it; kvm-unit-tests x86/vmx.c (test_vmxon) expects VMfailInvalid for a
    /// misaligned pointer, one beyond MAXPHYADDR, or a region without the VMCS revision, and success for a good one.
    /// </summary>
    [Test]
    public void VmxonFollowsTheSdmInAndOutOfVmxOperation()
    {
        var engine = Running();
        engine.Memory.CreateRegion(0x40000, Kvm.Vmcs12.Revision);
        engine.Memory.CreateRegion(0x41000, Kvm.Vmcs12.Revision ^ 1);
        Assert.Multiple(() =>
        {
            Assert.That(engine.L1VmxOn(0x40000), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmxonInVmxRootOperation)));
            Assert.That(engine.L1VmRead(0x4400, out var error), Is.EqualTo(VmxResult.Succeed));
            Assert.That(error, Is.EqualTo(15));
            Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.Succeed));
            Assert.That(engine.L1VmxOn(0x40010), Is.EqualTo(VmxResult.FailInvalid), "misaligned");
            Assert.That(engine.L1VmxOn(1UL << 46), Is.EqualTo(VmxResult.FailInvalid), "beyond MAXPHYADDR");
            Assert.That(engine.L1VmxOn(0x41000), Is.EqualTo(VmxResult.FailInvalid), "wrong revision");
            Assert.That(engine.L1VmxOn(0x50000), Is.EqualTo(VmxResult.FailInvalid), "no region there");
            Assert.That(engine.L1VmxOn(0x40000), Is.EqualTo(VmxResult.Succeed));
            Assert.That(engine.L1VmPtrLd(0x40000), Is.EqualTo(VmxResult.FailInvalid), "VMPTRLD of the VMXON pointer, no current VMCS: VMfailInvalid");
        });
    }

    /// <summary>
    /// KVM's handle_vmxoff → free_nested and nested_vmx_check_permission: after VMXOFF the current vmcs12 is gone (VMPTRST
    /// would give -1 after a new VMXON, SDM VMXON: "current-VMCS pointer ← FFFFFFFF_FFFFFFFFH") and every other VMX
    /// instruction is #UD; VMCS shadowing is off, so L1's VMREAD of a shadowed field exits instead of reading stale data.
    /// </summary>
    [Test]
    public void AfterVmxoffVmxInstructionsAreInvalidOpcodes()
    {
        var engine = Running();
        Assert.That(engine.L1VmPtrSt(out var pointer), Is.EqualTo(VmxResult.Succeed));
        Assert.That(pointer, Is.EqualTo(Region));
        Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.Succeed));
        var before = engine.Counters;
        Assert.Multiple(() =>
        {
            Assert.That(engine.L1VmRead(0x4402, out _), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmWrite(0x681E, 1), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmClear(Region), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmResume(), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmPtrSt(out _), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That(engine.L1VmxOff(), Is.EqualTo(VmxResult.InvalidOpcode));
            Assert.That((engine.Counters - before).ShadowedVmreads, Is.Zero, "the VMREAD exited: shadowing is off");
            Assert.That(engine.L1VmxOn(0x1000), Is.EqualTo(VmxResult.FailInvalid), "no VMXON region was created at 0x1000");
        });
        engine.Memory.CreateRegion(0x1000, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmxOn(0x1000), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmPtrSt(out pointer), Is.EqualTo(VmxResult.Succeed));
        Assert.That(pointer, Is.EqualTo(ulong.MaxValue));
        Assert.That(engine.L1VmRead(0x4402, out _), Is.EqualTo(VmxResult.FailInvalid), "no current VMCS");
    }

    /// <summary>
    /// SDM VMREAD/VMWRITE in VMX non-root operation with VMCS shadowing: "bits 63:15 of the register source operand not all
    /// 0" cause a VM exit even for a field the bitmap shadows; KVM's get_vmcs12_field_offset then finds no field: VMfail(12).
    /// </summary>
    [Test]
    public void AnEncodingWithHighBitsSetExitsAndFailsWith12()
    {
        var engine = Running();
        var before = engine.Counters;
        Assert.That(engine.L1VmRead(0x1_0000_4402, out _), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        Assert.That(engine.L1VmWrite(0x8000_0000_0000_681E, 1), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        var c = engine.Counters - before;
        Assert.That((c.ExitsVmread, c.ExitsVmwrite, c.ShadowedVmreads), Is.EqualTo((1L, 1L, 0L)));
    }
}
