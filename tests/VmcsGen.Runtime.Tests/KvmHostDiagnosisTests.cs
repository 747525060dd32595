using System.Linq;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// What <see cref="VmxCapabilities.FromKvm"/> says on each kind of host, through the scripted fake modelling KVM 6.12:
/// with kvm_intel's <c>nested=0</c> the IA32_VMX_* MSRs are not feature MSRs (vmx/vmx.c <c>vmx_get_feature_msr</c>
/// returns 1 when <c>!nested</c>) and CPUID.1:ECX.VMX is not supported (<c>vmx_set_cpu_caps</c>), yet KVM_CAP_NESTED_STATE
/// is <c>vmx_get_nested_state(NULL)</c> = 128 + 2 × 4096 (nested.c) — the size tells kvm_intel from kvm_amd (128 + 4096,
/// svm/nested.c <c>svm_get_nested_state</c>) and from a KVM without nested state (0).
/// </summary>
public sealed class KvmHostDiagnosisTests
{
    [Test]
    public void NestedOnGivesTheVmxMsrsKvmOffers()
    {
        using var device = new FakeKvmDevice();
        using var kvm = KvmSystem.Open(device: device);
        var caps = VmxCapabilities.FromKvm(kvm);
        Assert.That(caps.Msrs, Is.EquivalentTo(VmxProfile.ReferenceCpu));
    }

    [TestCase(true, TestName = "nested off, told by /sys/module/kvm_intel/parameters/nested")]
    [TestCase(false, TestName = "nested off, told by the VMX nested-state size alone")]
    public void NestedOffIsNotNoVmx(bool sysfsReadable)
    {
        using var device = new FakeKvmDevice { NestedVmx = false, SysfsReadable = sysfsReadable };
        using var kvm = KvmSystem.Open(device: device);
        Assert.That(kvm.GetSupportedCpuid().Single(e => e.Function == 1).Ecx & (1u << 5), Is.Zero,
            "with nested=0 the supported CPUID has no VMX either, so it cannot tell the cases apart");
        var error = Assert.Throws<KvmUnavailableException>(() => VmxCapabilities.FromKvm(kvm))!;
        Assert.That(error.Message, Does.Contain("offers no VMX capability MSRs").And.Contain("nested VMX is off").And.Contain("modprobe kvm_intel nested=1"));
        Assert.That(error.Message, Does.Not.Contain("the CPU has no VMX"));
        Assert.That(error.Reason, Is.EqualTo(KvmUnavailableReason.NestedOff));
        Assert.That(error.Message, sysfsReadable ? Does.Contain("/sys/module/kvm_intel/parameters/nested is N") : Does.Contain("KVM_CAP_NESTED_STATE is 8320"));
    }

    [TestCase(FakeKvmHost.Amd, "kvm_amd", TestName = "an AMD host has no VMX")]
    [TestCase(FakeKvmHost.NoNested, "KVM_CAP_NESTED_STATE is 0", TestName = "a KVM without nested state has no VMX")]
    public void NoVmxSaysSo(FakeKvmHost host, string evidence)
    {
        using var device = new FakeKvmDevice { Host = host };
        using var kvm = KvmSystem.Open(device: device);
        var error = Assert.Throws<KvmUnavailableException>(() => VmxCapabilities.FromKvm(kvm))!;
        Assert.That(error.Message, Does.Contain("offers no VMX capability MSRs").And.Contain("the CPU has no VMX").And.Contain(evidence));
        Assert.That(error.Message, Does.Not.Contain("nested VMX is off"));
        Assert.That(error.Reason, Is.EqualTo(KvmUnavailableReason.NoVmx));
    }

    [Test]
    public void WithNestedOffKvmRefusesVmxOperationEvenWithVmxInCpuid()
    {
        // vmx_set_nested_state: a VMXON pointer needs guest_cpu_cap_has(VMX), which vmx_vcpu_after_set_cpuid grants only
        // when KVM itself has the cap (nested=1) — so the launch fails with EINVAL even though it sets CPUID.1:ECX.VMX.
        using var device = new FakeKvmDevice { NestedVmx = false };
        using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
        using var kvm = KvmSystem.Open(device: device);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var error = Assert.Throws<KvmException>(() => KvmNestedLaunch.Build(new VmxCapabilities(VmxProfile.ReferenceCpu), kvm.GetSupportedCpuid()).Apply(vm,
            vcpu, memory))!;
        Assert.That((error.Call, error.Errno), Is.EqualTo(("KVM_SET_NESTED_STATE", 22)));
    }

    [TestCase(13, KvmUnavailableReason.PermissionDenied, "permission denied", TestName = "EACCES is permission denied")]
    [TestCase(2, KvmUnavailableReason.NoDevice, "does not exist", TestName = "ENOENT is no device")]
    public void OpeningSaysWhyNot(int errno, KvmUnavailableReason reason, string text)
    {
        var device = new RefusingDevice(errno);
        var error = Assert.Throws<KvmUnavailableException>(() => KvmSystem.Open("/dev/kvm", device))!;
        Assert.That(error.Reason, Is.EqualTo(reason));
        Assert.That(error.Message, Does.Contain(text));
    }

    [Test]
    public void AnApiVersionMismatchSaysSo()
    {
        using var device = new FakeKvmDevice { ApiVersion = 11 };
        var error = Assert.Throws<KvmUnavailableException>(() => KvmSystem.Open(device: device))!;
        Assert.That(error.Reason, Is.EqualTo(KvmUnavailableReason.ApiVersionMismatch));
    }

    private sealed class RefusingDevice(int errno) : IKvmDevice
    {
        public int Open(string path, out int error)
        {
            error = errno;
            return -1;
        }

        public int Ioctl(System.Runtime.InteropServices.SafeHandle fd, nuint request, nint argument, out int error) => throw new System.NotSupportedException();

        public int Ioctl(System.Runtime.InteropServices.SafeHandle fd, nuint request, System.Span<byte> argument, out int error) =>
            throw new System.NotSupportedException();

        public nint Map(System.Runtime.InteropServices.SafeHandle fd, nuint length, out int error) => throw new System.NotSupportedException();

        public void Unmap(nint address, nuint length) => throw new System.NotSupportedException();

        public int Close(int fd) => 0;
    }
}
