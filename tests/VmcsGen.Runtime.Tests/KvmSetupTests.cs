using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>The KVM backend's setup and error paths, through the seam, on any host; checked against the uapi headers.</summary>
public sealed class KvmSetupTests
{
    private static readonly VmxCapabilities Caps = new(VmxProfile.ReferenceCpu);

    [TestCase("KVM_SET_USER_MEMORY_REGION", 0x4020AE46u)]
    [TestCase("KVM_SET_CPUID2", 0x4008AE90u)]
    [TestCase("KVM_SET_MSRS", 0x4008AE89u)]
    [TestCase("KVM_SET_SREGS", 0x4138AE84u)]
    [TestCase("KVM_SET_REGS", 0x4090AE82u)]
    [TestCase("KVM_RUN", 0xAE80u)]
    [TestCase("KVM_GET_NESTED_STATE", 0xC080AEBEu)]
    [TestCase("KVM_SET_NESTED_STATE", 0x4080AEBFu)]
    [TestCase("KVM_GET_SUPPORTED_CPUID", 0xC008AE05u)]
    public void IoctlNumbersAreTheUapiOnes(string name, uint number)
    {
        // _IOC(dir, 0xAE, nr, sizeof(struct)) from include/uapi/linux/kvm.h with the x86-64 struct sizes: kvm_sregs 312,
        // kvm_regs 144, kvm_userspace_memory_region 32, kvm_cpuid2 and kvm_msrs 8 (their header), kvm_nested_state 128.
        var type = typeof(KvmNestedState).Assembly.GetType("VmcsGen.Backends.Kvm.KvmIoctls")!;
        var field = type.GetFields().Single(f => f.FieldType == typeof(nuint) && (string)type.GetMethod("Name")!.Invoke(null, [f.GetValue(null)])! == name);
        Assert.That((uint)(nuint)field.GetValue(null)!, Is.EqualTo(number));
    }

    [Test]
    public void TheLaunchIsSetUpInQemusPutRegistersOrderWithTheUapiBytesAndRegsAreL2s()
    {
        using var device = new FakeKvmDevice();
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
        var launch = KvmNestedLaunch.Build(Caps, kvm.GetSupportedCpuid());
        device.Calls.Clear();
        launch.Apply(vm, vcpu, memory);

        // QEMU target/i386/kvm/kvm.c kvm_arch_put_registers (qemu commit 00001a22): the feature-control MSR, then sregs,
        // then the nested state, then the general registers; CPUID (kvm_arch_init_vcpu) and memory come before any of it.
        Assert.That(device.Sequence.Where(s => s != "KVM_CHECK_EXTENSION"), Is.EqualTo(new[]
        {
            "KVM_SET_USER_MEMORY_REGION", "KVM_SET_CPUID2", "KVM_SET_MSRS", "KVM_SET_SREGS", "KVM_SET_NESTED_STATE", "KVM_SET_REGS",
        }));

        var region = device.Argument("KVM_SET_USER_MEMORY_REGION");
        Assert.That((BinaryPrimitives.ReadUInt32LittleEndian(region), BinaryPrimitives.ReadUInt64LittleEndian(region.AsSpan(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(region.AsSpan(16)), BinaryPrimitives.ReadUInt64LittleEndian(region.AsSpan(24))),
            Is.EqualTo((0u, 0ul, (ulong)KvmNestedLaunch.MemorySize, (ulong)memory.Address)), "slot, guest_phys_addr, memory_size, userspace_addr");

        var cpuid = KvmStructs.ReadCpuid2(device.Argument("KVM_SET_CPUID2"));
        Assert.That(cpuid.Single(e => e.Function == 1).Ecx & (1u << 5), Is.Not.Zero, "CPUID.1:ECX.VMX");
        Assert.That(cpuid.Single(e => e.Function == 1).Ecx & 0x8000_0000, Is.Not.Zero, "the supported leaf is kept");

        var msrs = device.Argument("KVM_SET_MSRS");
        Assert.That((BinaryPrimitives.ReadUInt32LittleEndian(msrs), BinaryPrimitives.ReadUInt32LittleEndian(msrs.AsSpan(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(msrs.AsSpan(16))),
            Is.EqualTo((1u, 0x3Au, 0x5ul)), "IA32_FEATURE_CONTROL locked with VMX outside SMX");

        var sregs = device.Argument("KVM_SET_SREGS");
        Assert.That(sregs.Length, Is.EqualTo(312));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(sregs.AsSpan(12)), Is.EqualTo(0x08), "cs.selector at 12");
        Assert.That(sregs[14], Is.EqualTo(0xB), "cs.type at 14");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(sregs.AsSpan(248)) & 0x2000, Is.Not.Zero, "cr4 at 248 has VMXE");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(sregs.AsSpan(224)), Is.EqualTo(0x8000_0031ul), "cr0 at 224: PE NE ET PG");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(sregs.AsSpan(240)), Is.EqualTo(KvmNestedLaunch.PageDirectory), "cr3 at 240");

        var state = KvmNestedState.Parse(device.Argument("KVM_SET_NESTED_STATE"));
        Assert.That((state.Flags, state.VmxonPa, state.Vmcs12Pa),
            Is.EqualTo((KvmNestedStateFlags.GuestMode, KvmNestedLaunch.VmxonRegion, KvmNestedLaunch.Vmcs12Region)));
        var vmcs12 = state.Vmcs12!.Value;
        Assert.That((vmcs12.GuestRip, vmcs12.HostRip, vmcs12.HostRsp, vmcs12.VmcsLinkPointer),
            Is.EqualTo((KvmNestedLaunch.L2Code, KvmNestedLaunch.L1Code, KvmNestedLaunch.L1Stack, ulong.MaxValue)), "L1 resumes from vmcs12's host state");

        // KVM_SET_REGS comes after the vCPU entered guest mode, so it sets L2's registers (prepare_vmcs02 has just loaded
        // RIP, RSP and RFLAGS from vmcs12): they must be what vmcs12 says L2 starts with, and are what KVM_RUN finds.
        var regs = device.Argument("KVM_SET_REGS");
        Assert.That((regs.Length, BinaryPrimitives.ReadUInt64LittleEndian(regs.AsSpan(128)), BinaryPrimitives.ReadUInt64LittleEndian(regs.AsSpan(48)),
            BinaryPrimitives.ReadUInt64LittleEndian(regs.AsSpan(136))),
            Is.EqualTo((144, vmcs12.GuestRip, vmcs12.GuestRsp, vmcs12.GuestRflags)), "rip at 128, rsp at 48, rflags at 136: L2's");
        Assert.That(device.GuestMode, "the vCPU is in guest mode");
        Assert.That((device.Registers.Rip, device.Registers.Rsp, device.Registers.Rflags), Is.EqualTo((KvmNestedLaunch.L2Code, KvmNestedLaunch.L2Stack, 2ul)));
        Assert.That(memory.Bytes[(int)KvmNestedLaunch.L2Code..((int)KvmNestedLaunch.L2Code + 2)].ToArray(), Is.EqualTo(new byte[] { 0x0F, 0xA2 }),
            "L2 runs CPUID");
    }

    [Test]
    public void WithoutASupportedLeaf1TheLaunchsCpuidStillAllowsItsCr4()
    {
        // nested_vmx_cr_fixed1_bits_update (arch/x86/kvm/vmx/vmx.c): CR4.PSE is a fixed-1 bit only when CPUID.1:EDX.PSE is
        // set, CR4.VMXE only with CPUID.1:ECX.VMX; the launch runs with CR4 = PSE | VMXE, so KVM_SET_NESTED_STATE refuses
        // (EINVAL, nested_vmx_check_host_state) a vCPU whose leaf 1 lacks either. Build(caps, []) is the fallback leaf.
        using var device = new FakeKvmDevice();
        using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var launch = KvmNestedLaunch.Build(Caps, []);
        Assert.DoesNotThrow(() => launch.Apply(vm, vcpu, memory));
        var leaf1 = KvmStructs.ReadCpuid2(device.Argument("KVM_SET_CPUID2")).Single(e => e.Function == 1);
        Assert.That((leaf1.Edx & (1u << 3), leaf1.Ecx & (1u << 5)), Is.EqualTo((1u << 3, 1u << 5)), "CPUID.1:EDX.PSE and ECX.VMX");
    }

    [TestCase(1u << 3, 0u, TestName = "a leaf 1 without PSE refuses CR4.PSE")]
    [TestCase(0u, 1u << 5, TestName = "a leaf 1 without VMX refuses VMX operation and CR4.VMXE")]
    public void TheFakeRefusesWhatKvmRefuses(uint edxRemoved, uint ecxRemoved)
    {
        // The fake's own rule (vmx_set_nested_state, nested_cr4_valid), shown able to fail: the launch's state on a vCPU
        // whose CPUID has lost a bit its CR4 needs.
        using var device = new FakeKvmDevice();
        using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var launch = KvmNestedLaunch.Build(Caps, kvm.GetSupportedCpuid());
        vm.SetUserMemoryRegion(0, 0, memory);
        vcpu.SetCpuid(launch.Cpuid.Select(e => e.Function == 1 ? e with { Edx = e.Edx & ~edxRemoved, Ecx = e.Ecx & ~ecxRemoved } : e).ToList());
        vcpu.SetMsrs(launch.Msrs);
        vcpu.SetSregs(launch.Sregs);
        var error = Assert.Throws<KvmException>(() => vcpu.SetNestedState(launch.State))!;
        Assert.That((error.Call, error.Errno), Is.EqualTo(("KVM_SET_NESTED_STATE", 22)));
    }

    [Test]
    public void TheLaunchsVmcs12PassesTheVmEntryChecksOfAProcessorWithTheSameCapabilities()
    {
        // The same rule set KVM's nested_vmx_check_* mirror: controls, host state and guest state of the vmcs12 we send.
        var launch = KvmNestedLaunch.Build(Caps, []);
        var reader = new Vmcs12Reader(launch.State.Vmcs12!.Value);
        var profile = VmxProfile.Hardware();
        Assert.That(VmEntryChecks.Controls(ref reader, profile).Passed, VmEntryChecks.Controls(ref reader, profile).Rule);
        var host = VmEntryChecks.Host(ref reader, profile, hostInIa32eMode: false);
        Assert.That(host.Passed, host.Rule);
        var guest = VmEntryChecks.Guest(ref reader, profile, null);
        Assert.That(guest.Passed, guest.Rule);
    }

    private readonly struct Vmcs12Reader(Layouts.Kvm.Vmcs12 vmcs12) : IVmcsFieldReader
    {
        private readonly Layouts.Kvm.Vmcs12 _vmcs12 = vmcs12;

        public ulong Read(uint encoding)
        {
            var copy = _vmcs12;
            return Layouts.Kvm.Vmcs12Access.Read(ref copy, encoding, out var value).IsSuccess ? value : 0;
        }
    }

    [Test]
    public void RunReportsTheIoExitAndGetNestedStateReadsVmcs12()
    {
        using var device = new FakeKvmDevice();
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var exit = vcpu.Run();
        Assert.That((exit.Reason, exit.IoPort, exit.IoDirection), Is.EqualTo((KvmRunExit.Io, KvmNestedLaunch.L1Port, (byte)1)));

        var after = KvmNestedLaunch.Build(Caps, []).State;
        var vmcs12 = after.Vmcs12!.Value;
        vmcs12.VmExitReason = 10;
        after.Vmcs12 = vmcs12;
        after.Flags = KvmNestedStateFlags.None;
        device.NestedStateToReturn = after.Serialize();
        var state = vcpu.GetNestedState();
        Assert.That(state.Vmcs12!.Value.VmExitReason, Is.EqualTo(10u));
    }

    [Test]
    public void EveryFailureNamesTheIoctlTheFdAndErrno()
    {
        using var device = new FakeKvmDevice();
        device.FailWith["KVM_SET_NESTED_STATE"] = 22;
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
        var error = Assert.Throws<KvmException>(() => KvmNestedLaunch.Build(Caps, []).Apply(vm, vcpu, memory))!;
        Assert.That((error.Call, error.Errno), Is.EqualTo(("KVM_SET_NESTED_STATE", 22)));
        Assert.That(error.Message, Does.StartWith("KVM_SET_NESTED_STATE on vCPU 0 (fd 12) failed: errno 22 (EINVAL"));
    }

    [Test]
    public void AConstructorThatFailsClosesItsFd()
    {
        using var device = new FakeKvmDevice { ApiVersion = 11 };
        Assert.That(() => KvmSystem.Open(device: device), Throws.TypeOf<KvmUnavailableException>().With.Message.Contains("API version 11"));
        Assert.That(device.Closed, Is.EqualTo(new[] { 10 }), "the /dev/kvm fd is closed");

        using var failing = new FakeKvmDevice();
        failing.FailWith["KVM_GET_API_VERSION"] = 25;
        Assert.That(() => KvmSystem.Open(device: failing), Throws.TypeOf<KvmException>().With.Message.Contains("KVM_GET_API_VERSION"));
        Assert.That(failing.Closed, Is.EqualTo(new[] { 10 }));
    }

    [Test]
    public void DisposingEveryObjectClosesEveryFdOnce()
    {
        var device = new FakeKvmDevice();
        using (var kvm = KvmSystem.Open(device: device))
        using (var vm = kvm.CreateVm())
        using (var vcpu = vm.CreateVcpu(0))
        {
            vcpu.Run();
        }

        Assert.That(device.Closed.Order(), Is.EqualTo(new[] { 10, 11, 12 }));
    }
}
