using System;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>KVM_RUN's results and the lifetime of guest memory, through the scripted fake.</summary>
public sealed class KvmRunTests
{
    [Test]
    public void RunIsRetriedOnEintr()
    {
        // KVM_RUN returns -EINTR with a signal pending (x86.c kvm_arch_vcpu_ioctl_run / vcpu_run, exit_reason KVM_EXIT_INTR);
        // the .NET runtime signals its threads, and QEMU's kvm_cpu_exec just enters again. So does Run.
        using var device = new FakeKvmDevice();
        device.Runs.Enqueue(new FakeRun(Errno: 4));
        device.Runs.Enqueue(new FakeRun(Errno: 4));
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var exit = vcpu.Run();
        Assert.That((exit.Reason, exit.IoPort), Is.EqualTo((KvmRunExit.Io, KvmNestedLaunch.L1Port)));
        Assert.That(device.Runs, Is.Empty);
    }

    [Test]
    public void AnotherRunErrorIsStillAnError()
    {
        using var device = new FakeKvmDevice();
        device.Runs.Enqueue(new FakeRun(Errno: 14));
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var error = Assert.Throws<KvmException>(() => vcpu.Run())!;
        Assert.That((error.Call, error.Errno), Is.EqualTo(("KVM_RUN", 14)));
    }

    [TestCase(0x8000_0021ul, 3u, "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x80000021 (VM-entry failure, exit reason 33: " +
        "invalid guest state) on CPU 3",
        TestName = "a failed VM entry: bit 31 and the basic exit reason")]
    [TestCase(7ul, 0u, "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x7 (VM-instruction error 7: EntryInvalidControlField) on CPU 0",
        TestName = "VMfailValid: the VM-instruction error")]
    public void FailEntryIsDecoded(ulong reason, uint cpu, string expected)
    {
        // vmx.c __vmx_handle_exit: fail_entry.hardware_entry_failure_reason is the full exit reason of a failed VM entry
        // (bit 31 set; SDM 28.8) or, after VMfail, VM_INSTRUCTION_ERROR; fail_entry.cpu the last CPU entered.
        // kvm_run (include/uapi/linux/kvm.h): exit_reason at 8, fail_entry { u64 reason; u32 cpu; } at 32.
        var exit = RunWith(run => FakeKvmDevice.WriteFailEntry(run, reason, cpu));
        Assert.That((exit.Reason, exit.HardwareEntryFailureReason, exit.FailEntryCpu), Is.EqualTo((KvmRunExit.FailEntry, reason, cpu)));
        Assert.That(exit.ToString(), Is.EqualTo(expected));
    }

    [Test]
    public void InternalErrorIsDecoded()
    {
        // kvm_run.internal { u32 suberror; u32 ndata; u64 data[16]; } at 32; KVM_INTERNAL_ERROR_EMULATION = 1 (uapi kvm.h).
        var exit = RunWith(run => FakeKvmDevice.WriteInternalError(run, 1, 0x0, 0x7000));
        Assert.That((exit.Reason, exit.Suberror), Is.EqualTo((KvmRunExit.InternalError, 1u)));
        Assert.That(exit.InternalErrorData, Is.EqualTo(new ulong[] { 0, 0x7000 }));
        Assert.That(exit.ToString(), Is.EqualTo("KVM_EXIT_INTERNAL_ERROR: suberror 1 (KVM_INTERNAL_ERROR_EMULATION: KVM could not emulate an instruction), " +
            "data 0x0 0x7000"));
    }

    [Test]
    public void InternalErrorDataIsBoundedBySixteenWords()
    {
        var exit = RunWith(run =>
        {
            FakeKvmDevice.WriteInternalError(run, 4);
            BitConverter.TryWriteBytes(run.AsSpan(36), 1000u);
        });
        Assert.That(exit.InternalErrorData, Has.Count.EqualTo(16));
        Assert.That(exit.ToString(), Does.StartWith("KVM_EXIT_INTERNAL_ERROR: suberror 4 (KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON"));
    }

    [Test]
    public void AnIoExitReadsAsTheRecordItAlwaysWas()
    {
        // The decoded failure members leave other exits' record equality alone, and a default exit prints without them.
        var exit = RunWith(run => FakeKvmDevice.WriteIoExit(run, 0x10));
        Assert.That(exit, Is.EqualTo(new KvmRunExit(KvmRunExit.Io, 1, 1, 0x10, 1, 4096)));
        Assert.That(default(KvmRunExit) with { Reason = KvmRunExit.InternalError }, Has.Property("InternalErrorData").Empty);
        Assert.That((default(KvmRunExit) with { Reason = KvmRunExit.InternalError }).ToString(),
            Is.EqualTo("KVM_EXIT_INTERNAL_ERROR: suberror 0 (not a suberror of the uapi)"));
    }

    [Test]
    public void GuestMemoryOutlivesTheVmWhoseMemslotUsesIt()
    {
        // The memslot keeps userspace_addr until the VM is destroyed; freeing the memory first would leave KVM a
        // dangling mapping. Disposing it early hides it from its user, and the VM frees it when it closes.
        var device = new FakeKvmDevice();
        var kvm = KvmSystem.Open(device: device);
        var vm = kvm.CreateVm();
        var memory = new GuestMemory(4096);
        vm.SetUserMemoryRegion(0, 0, memory);
        memory.Dispose();
        Assert.That(() => memory.Bytes.Length, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(memory.Address, Is.Not.EqualTo(nint.Zero), "still the VM's memory");
        vm.Dispose();
        Assert.That(device.Closed, Does.Contain(11), "the VM fd is closed");
        Assert.That(memory.Address, Is.EqualTo(nint.Zero), "freed once the VM is gone");
        kvm.Dispose();
    }

    [Test]
    public void GuestMemoryNotMappedIsFreedAtOnce()
    {
        var memory = new GuestMemory(4096);
        memory.Dispose();
        Assert.That(memory.Address, Is.EqualTo(nint.Zero));
    }

    private static KvmRunExit RunWith(Action<byte[]> fill)
    {
        using var device = new FakeKvmDevice();
        device.Runs.Enqueue(new FakeRun(Fill: fill));
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        return vcpu.Run();
    }
}
