using System;
using System.Linq;
using VmcsGen;
using VmcsGen.Backends.Kvm;
using Kvm = VmcsGen.Layouts.Kvm;

// Reports what this host's KVM offers VmcsGen: the API, nested-state support, the VMX capability MSRs and what follows
// from them for fields/kvm.vmcs. Whatever is missing gets one line saying what and why.
var path = args.Length > 0 ? args[0] : KvmSystem.DefaultPath;
if (path is "-h" or "--help")
{
    Console.WriteLine("usage: dotnet run --project samples/KvmProbe [-- /dev/kvm]");
    return 0;
}

KvmSystem kvm;
try
{
    kvm = KvmSystem.Open(path);
}
catch (KvmException e)
{
    Console.WriteLine($"KVM: unavailable: {e.Message}");
    return 1;
}

using (kvm)
{
    Console.WriteLine($"KVM: {path}, API version {kvm.ApiVersion}");
    var nestedSize = kvm.CheckExtension(157);
    Console.WriteLine(nestedSize > 0
        ? $"nested state: KVM_CAP_NESTED_STATE, up to {nestedSize} bytes per vCPU"
        : "nested state: not available (KVM_CAP_NESTED_STATE is 0: neither kvm_intel nor kvm_amd, or an older kernel that drops the hooks with nested off)");

    var features = kvm.GetMsrFeatureIndexList();
    Console.WriteLine(kvm.CheckExtension(153) > 0
        ? $"feature MSRs (KVM_GET_MSR_FEATURE_INDEX_LIST): {features.Count}: {string.Join(", ", features.Select(i => $"0x{i:X}"))}"
        : "feature MSRs: not available (no KVM_CAP_GET_MSR_FEATURES)");

    try
    {
        var caps = VmxCapabilities.FromKvm(kvm);
        Console.WriteLine($"VMX: revision 0x{caps.Revision:X8}, region {caps.RegionSize} bytes, TRUE controls {caps.HasTrueControls}, " +
            $"VMWRITE-any {caps.VmwriteAnyField}, VMCS shadowing {caps.VmcsShadowing}, highest field index 0x{caps.HighestFieldIndex:X}");
        foreach (var msr in VmxCapabilities.CapabilityMsrs.Where(caps.Msrs.ContainsKey))
        {
            Console.WriteLine($"  MSR 0x{msr:X}: 0x{caps.Msrs[msr]:X16}");
        }

        var available = Kvm.FeatureSupport.From(caps);
        Console.WriteLine($"fields/kvm.vmcs features: {available} (of {Kvm.Features.All})");
        foreach (var name in VmxCapabilities.KnownFeatures)
        {
            Console.WriteLine($"  {name}: {(caps.Has(name) ? "available" : "absent: its fields stay intercepted")}");
        }
    }
    catch (KvmUnavailableException e)
    {
        Console.WriteLine($"VMX: unavailable: {e.Message}");
        Console.WriteLine("fields/kvm.vmcs features: unknown without the VMX capability MSRs");
    }

    using var vm = kvm.CreateVm();
    using var vcpu = vm.CreateVcpu(0);
    Console.WriteLine("VM and vCPU 0: created");
    try
    {
        var state = vcpu.GetNestedState();
        Console.WriteLine($"vCPU 0 nested state: {state.Size} bytes, flags {state.Flags}, vmxon_pa 0x{state.VmxonPa:X}, vmcs12_pa 0x{state.Vmcs12Pa:X}, " +
            $"vmcs12 {(state.Vmcs12 is null ? "absent" : "present")}");
    }
    catch (KvmUnavailableException e)
    {
        Console.WriteLine($"vCPU 0 nested state: unavailable: {e.Message}");
    }
    catch (KvmException e)
    {
        Console.WriteLine($"vCPU 0 nested state: {e.Message}");
    }
    catch (InvalidNestedStateException e)
    {
        Console.WriteLine($"vCPU 0 nested state: not a VMX state VmcsGen can read: {e.Message}");
    }
}

return 0;
