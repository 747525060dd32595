using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// Against this machine's /dev/kvm: everything it supports is exercised; what needs VMX or nested state skips with the
/// reason the host gives.
/// </summary>
[NonParallelizable]
public sealed class KvmLiveTests
{
    private static KvmSystem OpenOrSkip()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(KvmSystem.DefaultPath))
        {
            Assert.Ignore($"{KvmSystem.DefaultPath} does not exist on this host");
        }

        try
        {
            return KvmSystem.Open();
        }
        catch (KvmUnavailableException e)
        {
            Assert.Ignore(e.Message);
            throw;
        }
    }

    [Test]
    public void OpensKvmAndReadsTheApiVersion()
    {
        using var kvm = OpenOrSkip();
        Assert.That(kvm.ApiVersion, Is.EqualTo(12));
    }

    [Test]
    public void ChecksExtensions()
    {
        using var kvm = OpenOrSkip();
        Assert.That(kvm.CheckExtension(9), Is.GreaterThan(0), "KVM_CAP_NR_VCPUS");
        Assert.That(kvm.CheckExtension(157), Is.GreaterThanOrEqualTo(0), "KVM_CAP_NESTED_STATE is 0 or a size");
        Assert.That(kvm.CheckExtension(123_456), Is.Zero, "an unknown capability is absent, not an error");
    }

    [Test]
    public void CreatesAVmAndAVcpu()
    {
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        Assert.That(vcpu.NestedStateSize, Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void AFailedIoctlNamesTheIoctlTheFdAndErrno()
    {
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var first = vm.CreateVcpu(0);
        var error = Assert.Throws<KvmException>(() => vm.CreateVcpu(0))!;
        Assert.That(error.Message, Does.StartWith("KVM_CREATE_VCPU on VM (fd ").And.Contain("errno 17 (EEXIST"));
        Assert.That((error.Call, error.Errno), Is.EqualTo(("KVM_CREATE_VCPU", 17)));
    }

    [Test]
    public void AMissingDeviceIsOneClearLine()
    {
        var error = Assert.Throws<KvmUnavailableException>(() => KvmSystem.Open("/dev/no-such-kvm"))!;
        Assert.That(error.Message, Is.EqualTo("/dev/no-such-kvm does not exist: KVM is not available on this host (no kvm module, or no virtualization support)"));
    }

    [Test]
    public void ReadsTheFeatureMsrList()
    {
        using var kvm = OpenOrSkip();
        var list = kvm.GetMsrFeatureIndexList();
        Assert.That(list, Is.Unique);
        TestContext.Out.WriteLine("feature MSRs: " + string.Join(", ", list.Select(i => $"0x{i:X}")));
        if (list.Count > 0)
        {
            var values = kvm.GetFeatureMsrs(list);
            Assert.That(values.Keys, Is.SubsetOf(list));
        }
    }

    [Test]
    public void VmxCapabilitiesComeFromKvmOrTheHostSaysWhyNot()
    {
        using var kvm = OpenOrSkip();
        if (!kvm.GetMsrFeatureIndexList().Contains(VmxMsr.Basic))
        {
            var error = Assert.Throws<KvmUnavailableException>(() => VmxCapabilities.FromKvm(kvm))!;
            Assert.That(error.Message, Does.Contain("offers no VMX capability MSRs"));
            Assert.Ignore("VMX part skipped: " + error.Message);
        }

        var caps = VmxCapabilities.FromKvm(kvm);
        Assert.That(caps.Revision, Is.Not.Zero);
        Assert.That(caps.RegionSize, Is.InRange(16, 4096));
    }

    [Test]
    public void NestedStateRoundTripsThroughKvmWhereTheHostHasIt()
    {
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        if (vcpu.NestedStateSize == 0)
        {
            var error = Assert.Throws<KvmUnavailableException>(() => vcpu.GetNestedState())!;
            Assert.Ignore("nested state skipped: " + error.Message);
        }

        var state = vcpu.GetNestedState();
        vcpu.SetNestedState(state);
        Assert.That(vcpu.GetNestedState().Serialize(), Is.EqualTo(state.Serialize()));
    }
}
