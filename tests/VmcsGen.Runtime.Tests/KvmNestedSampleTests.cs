using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;
using VmcsGen.Samples.KvmNested;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// samples/KvmNested end to end through the scripted fake (<see cref="FakeKvmDevice"/>): what it prints and its exit
/// status on each host kind, and that every failure is one line on stderr with status 1 or 2, never a stack trace.
/// </summary>
public sealed class KvmNestedSampleTests
{
    [Test]
    public void OnAHostWithNestedVmxL1GetsTheCpuidExit()
    {
        // The fake's model of the launch (L2 at its entry RIP runs CPUID, exits to L1 at HOST_RIP, which writes port 0x10)
        // is driven only by the bytes the sample put in guest memory, vmcs12 and the registers.
        var (status, output, error) = Run(new FakeKvmDevice());
        Assert.That(error, Is.Empty);
        Assert.That(status, Is.EqualTo(0));
        Assert.That(output, Is.EqualTo(new[]
        {
            "L2 launched from a generated vmcs12: guest RIP 0x7000 (cpuid; hlt), L1's handler at 0x6000",
            "KVM_RUN 1: KVM_EXIT_IO (OUT port 0x10, 1 bytes)",
            "L1 got the nested VM exit: reason 10 (10 = CPUID), qualification 0x0, instruction length 2, L2's RIP 0x7000; nested state flags None, 4224 bytes",
        }));
    }

    [Test]
    public void NestedOffSaysSoAndHowToTurnItOn()
    {
        var (status, output, error) = Run(new FakeKvmDevice { NestedVmx = false });
        Assert.That((status, output), Is.EqualTo((2, Array.Empty<string>())));
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.StartWith("KvmNested: /dev/kvm offers no VMX capability MSRs").And.Contain("nested VMX is off").And.Contain("modprobe " +
            "kvm_intel nested=1"));
    }

    [Test]
    public void AVmxCapabilityMsrKvmDoesNotOfferIsOneLine()
    {
        // KVM lists IA32_VMX_BASIC but not a TRUE control MSR it promises (bit 55): the VmxCapabilities constructor's
        // ArgumentException must not escape as a stack trace.
        var device = new FakeKvmDevice();
        device.VmxMsrs.Remove(VmxMsr.TruePinBasedCtls);
        var (status, _, error) = Run(device);
        Assert.That(status, Is.EqualTo(1));
        Assert.That(error, Is.EqualTo(new[] { "KvmNested: VMX capabilities: IA32_VMX_TRUE_PINBASED_CTLS (MSR 0x48D) is missing. (Parameter 'msrs')" }));
    }

    [Test]
    public void ANestedStateWithoutVmcs12IsOneLine()
    {
        var device = new FakeKvmDevice { NestedStateToReturn = new KvmNestedState().Serialize() };
        var (status, _, error) = Run(device);
        Assert.That(status, Is.EqualTo(1));
        Assert.That(error, Has.Length.EqualTo(1));
        Assert.That(error[0], Does.StartWith("KvmNested: KVM_GET_NESTED_STATE returned no vmcs12"));
    }

    [Test]
    public void AFailedEntryIsDecodedInOneLine()
    {
        var device = new FakeKvmDevice();
        device.Runs.Enqueue(new FakeRun(Fill: run => FakeKvmDevice.WriteFailEntry(run, 0x8000_0021, 1)));
        var (status, output, error) = Run(device);
        Assert.That(status, Is.EqualTo(1));
        Assert.That(output.Last(), Is.EqualTo("KVM_RUN 1: KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x80000021 (VM-entry failure, exit reason 33: " +
            "invalid guest state) on CPU 1"));
        Assert.That(error, Is.EqualTo(new[] { "KvmNested: the vCPU stopped with KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x80000021 (VM-entry " +
            "failure, exit reason 33: invalid guest state) on CPU 1 before L1's handler ran" }));
    }

    [Test]
    public void AHostWithoutVmxSaysSo()
    {
        var (status, _, error) = Run(new FakeKvmDevice { Host = FakeKvmHost.NoNested });
        Assert.That(status, Is.EqualTo(2));
        Assert.That(error, Is.EqualTo(new[]
        {
            "KvmNested: /dev/kvm offers no VMX capability MSRs (IA32_VMX_BASIC is not among its 4 feature MSRs): the CPU has no VMX, " +
                "or kvm_intel is not loaded (KVM_CAP_NESTED_STATE is 0)",
        }));
    }

    private static (int Status, string[] Output, string[] Error) Run(FakeKvmDevice device)
    {
        using (device)
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            var status = KvmNestedSample.Run(KvmSystem.DefaultPath, device, output, error);
            static string[] Lines(StringWriter w) => w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
            return (status, Lines(output), Lines(error));
        }
    }
}
