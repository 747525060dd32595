using NUnit.Framework;
using VmcsGen.Nested;
using static VmcsGen.Runtime.Tests.NestedRoundTrips;
using Kvm = VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>L0's checks of vmcs12 at a nested entry (NestedVmxOptions.Vmcs12EntryChecks: the processor's VmEntryChecks).</summary>
public sealed class NestedVmxEntryCheckTests
{

    /// <summary>L1 fills vmcs12 with a state that passes every modelled check on the KVM profile.</summary>
    private static NestedVmx<Kvm.Layout, Kvm.ControlShadows, Software.SoftwareVmcs> CheckedEngine()
    {
        var (engine, _) = SoftwareNested.Create<Kvm.Layout, Kvm.ControlShadows>(new NestedVmxOptions { Vmcs12EntryChecks = Software.VmxProfile.Kvm });
        engine.Memory.CreateRegion(Region, Kvm.Vmcs12.Revision);
        Assert.That(engine.L1VmPtrLd(Region), Is.EqualTo(VmxResult.Succeed));
        foreach (var (field, value) in ValidEntryState.For(Software.VmxProfile.Kvm))
        {
            Assert.That(engine.L1VmWrite(field, value), Is.EqualTo(VmxResult.Succeed), $"0x{field:X4}");
        }

        return engine;
    }

    [Test]
    public void WithEntryChecksAValidVmcs12Runs()
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.InL2, Is.True);
    }

    /// <summary>
    /// kvm-unit-tests x86/vmx_tests.c (vmx_controls_test, vmx_host_state_area_test) and KVM's nested_vmx_check_controls /
    /// nested_vmx_check_host_state: a control field against L1's capability MSRs is VMfailValid(7), host state (SDM
    /// 26.2.2-26.2.4) VMfailValid(8); L1 reads the number from VM_INSTRUCTION_ERROR and L2 never ran. The values were
    /// written through the shadow VMCS, so the checks see them only because the shadow is flushed first (nested_vmx_run).
    /// </summary>
    [TestCase(0x4000u, 0ul, VmxInstructionError.EntryInvalidControlField, TestName = "pin-based controls without their must-be-one bits: 7")]
    [TestCase(0x6C00u, 0x8005_0032ul, VmxInstructionError.EntryInvalidHostStateField, TestName = "host CR0 without PE: 8")]
    [TestCase(0x6C16u, 0x0000_8000_0000_0000ul, VmxInstructionError.EntryInvalidHostStateField, TestName = "a non-canonical host RIP: 8")]
    public void ABadControlOrHostFieldIsAVmfail(uint field, ulong value, VmxInstructionError error)
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmWrite(field, value), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.FailValid(error)));
        Assert.That(engine.InL2, Is.False);
        Assert.That(engine.L1VmRead(0x4400, out var number), Is.EqualTo(VmxResult.Succeed));
        Assert.That(number, Is.EqualTo((ulong)error));
        Assert.That(engine.Counters.NestedEntries, Is.Zero);
    }

    /// <summary>
    /// kvm-unit-tests vmx_guest_state_area_test and KVM's nested_vmx_enter_non_root_mode (vmentry_fail_vmexit): a guest
    /// state check failure is no VMfail but a VM exit to L1 with reason 33 | 0x80000000 (SDM 26.8); prepare_vmcs12 sets
    /// the launch state only for a real exit, so VMRESUME afterwards is VMfailValid(5) and a corrected VMLAUNCH runs L2.
    /// </summary>
    [Test]
    public void ABadGuestFieldIsAnEntryFailureExitToL1()
    {
        var engine = CheckedEngine();
        Assert.That(engine.L1VmWrite(0x6820, 0), Is.EqualTo(VmxResult.Succeed)); // RFLAGS bit 1 clear
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.EntryFailure));
        Assert.That(engine.InL2, Is.False);
        Assert.That(engine.L1VmRead(0x4402, out var reason), Is.EqualTo(VmxResult.Succeed));
        Assert.That(reason, Is.EqualTo(0x8000_0021UL), "read through the shadow VMCS: refreshed after the failure");
        Assert.That(engine.Counters.EntryFailures, Is.EqualTo(1));
        Assert.That(engine.L1VmResume(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmresumeNonLaunchedVmcs)));
        Assert.That(engine.L1VmWrite(0x6820, 2), Is.EqualTo(VmxResult.Succeed));
        Assert.That(engine.L1VmLaunch(), Is.EqualTo(VmxResult.Succeed));
    }
}
