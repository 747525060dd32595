using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;
using VmcsGen.Samples.KvmNested;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// Against this machine's /dev/kvm. A test is skipped only for what the host genuinely lacks, and says which: no
/// /dev/kvm, no VMX, or nested VMX off. Anything else — permission denied on /dev/kvm, an API-version mismatch, an
/// answer KVM should not give — fails. Expected answers come from KVM's source (Linux 6.12, cited per test) and from what
/// the host shows outside KVM (which vendor module sysfs lists, the online CPUs), never from the same ioctl.
/// </summary>
[NonParallelizable]
public sealed class KvmLiveTests
{
    private const int NestedStateHeader = 128, NestedStatePage = 4096;

    /// <summary>Opens /dev/kvm; skips only when there is none. Permission denied and an API mismatch throw, so the test fails.</summary>
    private static KvmSystem OpenOrSkip()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(KvmSystem.DefaultPath))
        {
            Assert.Ignore($"no /dev/kvm: {KvmSystem.DefaultPath} does not exist on this host");
        }

        return KvmSystem.Open();
    }

    /// <summary>Skips for no VMX and nested off (saying which); any other unavailability is rethrown and fails the test.</summary>
    private static VmxCapabilities CapabilitiesOrSkip(KvmSystem kvm)
    {
        try
        {
            return VmxCapabilities.FromKvm(kvm);
        }
        catch (KvmUnavailableException e) when (e.Reason is KvmUnavailableReason.NoVmx or KvmUnavailableReason.NestedOff)
        {
            Assert.That(e.Reason == KvmUnavailableReason.NoVmx && HostVendor() == "kvm_intel", Is.False,
                "sysfs lists kvm_intel, so the CPU has VMX: KVM's answer should have been 'nested off', not " + e.Message);
            Assert.Ignore((e.Reason == KvmUnavailableReason.NoVmx ? "no VMX: " : "nested VMX off: ") + e.Message);
            throw;
        }
    }

    /// <summary>The KVM vendor module, from sysfs (or, where /sys/module is not visible, the CPU flags KVM would need).</summary>
    private static string HostVendor()
    {
        if (Directory.Exists("/sys/module/kvm"))
        {
            return Directory.Exists("/sys/module/kvm_intel") ? "kvm_intel" : Directory.Exists("/sys/module/kvm_amd") ? "kvm_amd"
                : Directory.GetDirectories("/sys/module", "kvm_*").Select(Path.GetFileName).FirstOrDefault() ?? "no vendor module";
        }

        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))?.Split(' ') ?? [];
        return flags.Contains("vmx") ? "kvm_intel" : flags.Contains("svm") ? "kvm_amd" : "a CPU without VMX or SVM";
    }

    /// <summary>
    /// KVM_CAP_NESTED_STATE this host must report (x86.c kvm_vm_ioctl_check_extension → nested_ops->get_state(NULL)):
    /// kvm_intel 128 + 2 × 4096 (vmx_get_nested_state: header + struct kvm_vmx_nested_state_data), kvm_amd 128 + 4096
    /// (svm_get_nested_state: header + KVM_STATE_NESTED_SVM_VMCB_SIZE), whatever <c>nested</c> is; 0 for a vendor module
    /// without nested_ops state hooks.
    /// </summary>
    private static int ExpectedNestedStateSize() => HostVendor() switch
    {
        "kvm_intel" => NestedStateHeader + (2 * NestedStatePage),
        "kvm_amd" => NestedStateHeader + NestedStatePage,
        _ => 0,
    };

    /// <summary>
    /// What KVM_CAP_NESTED_STATE may be here: <see cref="ExpectedNestedStateSize"/>, or also 0 on kvm_intel with nested off,
    /// because kernels before the nested ops moved to <c>vmx_nested_ops</c> cleared <c>get_nested_state</c> in
    /// <c>hardware_setup</c> when <c>!nested</c> (older vmx.c: <c>kvm_x86_ops->get_nested_state = NULL</c>).
    /// </summary>
    private static int[] AllowedNestedStateSizes() =>
        HostVendor() == "kvm_intel" && File.Exists("/sys/module/kvm_intel/parameters/nested")
            && File.ReadAllText("/sys/module/kvm_intel/parameters/nested").Trim() is "N" or "0"
            ? [ExpectedNestedStateSize(), 0]
            : [ExpectedNestedStateSize()];

    [Test]
    public void OpensKvmAndReadsTheApiVersion()
    {
        using var kvm = OpenOrSkip();
        Assert.That(kvm.ApiVersion, Is.EqualTo(12), "KVM_API_VERSION, include/uapi/linux/kvm.h");
    }

    [Test]
    public void ChecksExtensions()
    {
        using var kvm = OpenOrSkip();

        // x86.c: KVM_CAP_NR_VCPUS is min(num_online_cpus(), KVM_MAX_VCPUS), KVM_CAP_MAX_VCPUS (66) is KVM_MAX_VCPUS.
        var online = OnlineCpus();
        Assert.That(kvm.CheckExtension(9), Is.EqualTo(Math.Min(online, kvm.CheckExtension(66))), $"KVM_CAP_NR_VCPUS with {online} CPUs online");
        Assert.That(kvm.CheckExtension(157), Is.AnyOf(AllowedNestedStateSizes().Cast<object>().ToArray()), $"KVM_CAP_NESTED_STATE on a {HostVendor()} host");
        Assert.That(kvm.CheckExtension(123_456), Is.Zero, "an unknown capability is absent, not an error");
    }

    [Test]
    public void CreatesAVmAndAVcpu()
    {
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);

        // kvm_main.c KVM_GET_VCPU_MMAP_SIZE: struct kvm_run, the PIO data page (x86), the coalesced-MMIO ring page.
        Assert.That(kvm.VcpuMmapSize, Is.EqualTo(3 * 4096));
        var size = vcpu.NestedStateSize;
        Assert.That(size, Is.AnyOf(AllowedNestedStateSizes().Cast<object>().ToArray()), $"KVM_CAP_NESTED_STATE on a {HostVendor()} host");
        if (size > 0)
        {
            Assert.That((size > NestedStateHeader, (size - NestedStateHeader) % NestedStatePage), Is.EqualTo((true, 0)), "128 + n · 4096 with n ≥ 1");
        }
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
        Assert.That(error.Message, Is.EqualTo("/dev/no-such-kvm does not exist: KVM is not available on this host (no kvm module, " +
            "or no virtualization support)"));
        Assert.That(error.Reason, Is.EqualTo(KvmUnavailableReason.NoDevice));
    }

    [Test]
    public void ReadsTheFeatureMsrList()
    {
        using var kvm = OpenOrSkip();
        var list = kvm.GetMsrFeatureIndexList();
        Assert.That(list, Is.Unique);
        TestContext.Out.WriteLine("feature MSRs: " + string.Join(", ", list.Select(i => $"0x{i:X}")));

        // x86.c kvm_probe_feature_msr lists an MSR only if kvm_get_feature_msr read it, so every listed one reads.
        Assert.That(kvm.GetFeatureMsrs(list).Keys, Is.EquivalentTo(list));
    }

    [Test]
    public void VmxCapabilitiesComeFromKvmOrTheHostSaysWhyNot()
    {
        using var kvm = OpenOrSkip();
        var caps = CapabilitiesOrSkip(kvm);

        // nested.c nested_vmx_setup_basic: VMCS12_REVISION, VMCS12_SIZE (0x1000), VMX_BASIC_TRUE_CTLS.
        Assert.That((caps.Revision, caps.RegionSize, caps.HasTrueControls), Is.EqualTo((Layouts.Kvm.Vmcs12.Revision, 4096, true)));
    }

    [Test]
    public void NestedStateRoundTripsThroughKvmWhereTheHostHasIt()
    {
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        if (vcpu.NestedStateSize == 0)
        {
            // Neither kvm_intel nor kvm_amd (this development machine has kvm_pvm), or an old kvm_intel with nested off.
            Assert.That(AllowedNestedStateSizes(), Does.Contain(0), $"a {HostVendor()} host must report a nested-state size");
            var error = Assert.Throws<KvmUnavailableException>(() => vcpu.GetNestedState())!;
            Assert.That(error.Reason, Is.EqualTo(KvmUnavailableReason.NoNestedState));
            Assert.Ignore((HostVendor() == "kvm_intel" ? "nested VMX off: " : "no VMX: ") + $"the vendor module is {HostVendor()}, " +
                $"which keeps no nested state here ({error.Message})");
        }

        // A fresh vCPU is outside VMX/SVM operation: the bare header (vmx_get_nested_state, svm_get_nested_state).
        var state = vcpu.GetNestedState();
        Assert.That(state.Size, Is.EqualTo(NestedStateHeader));
        vcpu.SetNestedState(state);
        Assert.That(vcpu.GetNestedState().Serialize(), Is.EqualTo(state.Serialize()));
    }

    [Test]
    public void RunsARealModeGuestToItsOutThroughTheMappedKvmRun()
    {
        // No VMX needed: a real-mode guest at 0x1000 runs `mov al, 0x42; out 0x10, al` (B0 42, E6 10). KVM_RUN returns
        // KVM_EXIT_IO (2) with io { direction KVM_EXIT_IO_OUT (1), size 1, port 0x10, count 1 } (uapi kvm.h), read from the
        // vCPU's mmap-ed struct kvm_run; its data_offset lies inside that mapping.
        using var kvm = OpenOrSkip();
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(2 * 4096);
        byte[] code = [0xB0, 0x42, 0xE6, 0x10];
        code.CopyTo(memory.Bytes[0x1000..]);
        vm.SetUserMemoryRegion(0, 0, memory);
        using var vcpu = vm.CreateVcpu(0);
        var sregs = vcpu.GetSregs();
        sregs.Cs = sregs.Cs with { Base = 0, Selector = 0 };
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = 0x1000 });

        var exit = vcpu.Run();

        Assert.That(
            (exit.Reason, exit.IoDirection, exit.IoSize, exit.IoPort, exit.IoCount), Is.EqualTo((KvmRunExit.Io, (byte)1, (byte)1, (ushort)0x10, 1u)),
                exit.ToString());
        Assert.That(exit.IoDataOffset, Is.GreaterThan(0ul).And.LessThan((ulong)kvm.VcpuMmapSize));
    }

    [Test]
    public void TheSampleRunsL2WhereTheHostHasNestedVmx()
    {
        using (var kvm = OpenOrSkip())
        {
            CapabilitiesOrSkip(kvm);
        }

        using var output = new StringWriter();
        using var error = new StringWriter();
        var status = KvmNestedSample.Run(KvmSystem.DefaultPath, IKvmDevice.Libc, output, error);
        TestContext.Out.WriteLine(output.ToString());
        Assert.That((status, error.ToString()), Is.EqualTo((0, string.Empty)));
        Assert.That(output.ToString(), Does.Contain("L1 got the nested VM exit: reason 10 (10 = CPUID), qualification 0x0, instruction length 2, " +
            "L2's RIP 0x7000"));
    }

    private static int OnlineCpus()
    {
        // /sys/devices/system/cpu/online: ranges such as "0-1" or "0,2-5".
        var text = File.ReadAllText("/sys/devices/system/cpu/online").Trim();
        return text.Split(',').Sum(part =>
        {
            var bounds = part.Split('-').Select(int.Parse).ToArray();
            return bounds.Length == 1 ? 1 : bounds[1] - bounds[0] + 1;
        });
    }
}
