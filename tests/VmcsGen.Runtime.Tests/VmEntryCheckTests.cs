using NUnit.Framework;
using VmcsGen.Software;
using static VmcsGen.Runtime.Tests.VmxProcessorHelpers;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// SoftwareVmx's VMLAUNCH/VMRESUME and the VM-entry checks (SDM 26.2-26.3; kvm-unit-tests x86/vmx_tests.c
/// (commit 1da1819e) vmx_controls_test, vmx_host_state_area_test, vmx_guest_state_area_test).
/// </summary>
public sealed class VmEntryCheckTests
{
    /// <summary>A VMCS that passes every modelled entry check on the KVM profile: 64-bit host and guest, flat state.</summary>
    private static SoftwareVmx ValidVmcs()
    {
        var cpu = Current();
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
            Is.EqualTo((InstructionOutcomeKind.EntryFailure, VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit, qualification)),
                outcome.ToString());
        Assert.That(Read(cpu, ExitReason).Value, Is.EqualTo((ulong)(VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit)));
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.Root));
    }

    [Test]
    public void MovSsBlockingComesBeforeTheLaunchStateAndTheFieldChecks()
    {
        // SDM VMLAUNCH: "events are being blocked by MOV SS" is VMfailValid(26), checked before the launch state (4/5).
        var cpu = Current();
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
}
