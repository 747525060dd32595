using System;
using VmcsGen;
using VmcsGen.Backends.Kvm;

// Runs a real L2 under KVM: a vmcs12 built with the generated Vmcs12 of fields/kvm.vmcs (L2: cpuid; hlt), handed to KVM with
// KVM_SET_NESTED_STATE in guest mode, KVM_RUN until L1's exit handler writes to port 0x10, then KVM_GET_NESTED_STATE and
// the exit L1 received, read through the generated accessors. Needs an Intel host with nested VMX; elsewhere it says in
// one line what the host lacks and exits with status 2.
var path = args.Length > 0 ? args[0] : KvmSystem.DefaultPath;
try
{
    using var kvm = KvmSystem.Open(path);
    var caps = VmxCapabilities.FromKvm(kvm);
    if (kvm.CheckExtension(157) <= 0)
    {
        throw new KvmUnavailableException($"{path} has VMX but no KVM_CAP_NESTED_STATE: nested virtualization is off (load kvm_intel with nested=1)");
    }

    using var vm = kvm.CreateVm();
    using var vcpu = vm.CreateVcpu(0);
    using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
    var launch = KvmNestedLaunch.Build(caps, kvm.GetSupportedCpuid());
    launch.Apply(vm, vcpu, memory);
    Console.WriteLine($"L2 launched from a generated vmcs12: guest RIP 0x{launch.State.Vmcs12!.Value.GuestRip:X} (cpuid; hlt), L1's handler at 0x{KvmNestedLaunch.L1Code:X}");

    for (var runs = 1; runs <= 16; runs++)
    {
        var exit = vcpu.Run();
        Console.WriteLine($"KVM_RUN {runs}: {exit}");
        if (exit.Reason == KvmRunExit.Io && exit.IoPort == KvmNestedLaunch.L1Port)
        {
            var state = vcpu.GetNestedState();
            var vmcs12 = state.Vmcs12 ?? throw new InvalidOperationException("KVM returned no vmcs12");
            Console.WriteLine($"L1 got the nested VM exit: reason {vmcs12.VmExitReason & 0xFFFF} (10 = CPUID), qualification 0x{vmcs12.ExitQualification:X}, " +
                $"instruction length {vmcs12.VmExitInstructionLen}, L2's RIP 0x{vmcs12.GuestRip:X}; nested state flags {state.Flags}, {state.Size} bytes");
            return 0;
        }

        if (exit.Reason is not (KvmRunExit.Io or KvmRunExit.Hlt))
        {
            Console.Error.WriteLine($"KvmNested: the vCPU stopped with {exit} before L1's handler ran");
            return 1;
        }
    }

    Console.Error.WriteLine("KvmNested: L1's handler never wrote to port 0x10");
    return 1;
}
catch (KvmUnavailableException e)
{
    Console.Error.WriteLine("KvmNested: " + e.Message);
    return 2;
}
catch (Exception e) when (e is KvmException or InvalidNestedStateException)
{
    Console.Error.WriteLine("KvmNested: " + e.Message);
    return 1;
}
