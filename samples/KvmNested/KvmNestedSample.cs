using System;
using System.IO;
using VmcsGen.Backends.Kvm;

namespace VmcsGen.Samples.KvmNested;

/// <summary>
/// The sample's body, callable with any <see cref="IKvmDevice"/> and writers (the tests drive it through a scripted fake).
/// Exit status: 0 when L1 received the nested VM exit; 2 when the host lacks what it needs (no /dev/kvm, no permission,
/// no VMX, nested VMX off: one line saying which); 1 for any other failure, in one line — never a stack trace.
/// </summary>
public static class KvmNestedSample
{
    public static int Run(string path, IKvmDevice device, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            using var kvm = KvmSystem.Open(path, device);

            // No VMX MSRs: FromKvm tells nested=0 from no VMX (KVM_CAP_NESTED_STATE is 128 + 8192 on kvm_intel either way,
            // so the capability says nothing about nested being on; a missing one is KvmVcpu.SetNestedState's to report).
            var caps = VmxCapabilities.FromKvm(kvm);

            // Guest memory first, so it is disposed last: the VM's memslot uses it until the VM is gone.
            using var memory = new GuestMemory(KvmNestedLaunch.MemorySize);
            using var vm = kvm.CreateVm();
            using var vcpu = vm.CreateVcpu(0);
            var launch = KvmNestedLaunch.Build(caps, kvm.GetSupportedCpuid());
            launch.Apply(vm, vcpu, memory);
            output.WriteLine($"L2 launched from a generated vmcs12: guest RIP 0x{launch.State.Vmcs12!.Value.GuestRip:X} (cpuid; hlt), " +
                $"L1's handler at 0x{KvmNestedLaunch.L1Code:X}");

            for (var runs = 1; runs <= 16; runs++)
            {
                var exit = vcpu.Run();
                output.WriteLine($"KVM_RUN {runs}: {exit}");
                if (exit.Reason == KvmRunExit.Io && exit.IoPort == KvmNestedLaunch.L1Port)
                {
                    var state = vcpu.GetNestedState();
                    if (state.Vmcs12 is not { } vmcs12)
                    {
                        error.WriteLine($"KvmNested: KVM_GET_NESTED_STATE returned no vmcs12 (flags {state.Flags}, {state.Size} bytes, " +
                            $"vmxon_pa 0x{state.VmxonPa:X}) after L1's handler ran");
                        return 1;
                    }

                    output.WriteLine($"L1 got the nested VM exit: reason {vmcs12.VmExitReason & 0xFFFF} (10 = CPUID), " +
                        $"qualification 0x{vmcs12.ExitQualification:X}, " +
                        $"instruction length {vmcs12.VmExitInstructionLen}, L2's RIP 0x{vmcs12.GuestRip:X}; nested state flags {state.Flags}, " +
                            $"{state.Size} bytes");
                    return 0;
                }

                if (exit.Reason is not (KvmRunExit.Io or KvmRunExit.Hlt))
                {
                    error.WriteLine($"KvmNested: the vCPU stopped with {exit} before L1's handler ran");
                    return 1;
                }
            }

            error.WriteLine("KvmNested: L1's handler never wrote to port 0x10");
            return 1;
        }
        catch (KvmUnavailableException e)
        {
            error.WriteLine("KvmNested: " + OneLine(e.Message));
            return 2;
        }
        catch (Exception e) when (e is KvmException or InvalidNestedStateException or ArgumentException or InvalidOperationException)
        {
            // KvmException: an ioctl failed (named, with errno); InvalidNestedStateException: a state KVM would refuse;
            // ArgumentException: KVM offers IA32_VMX_BASIC but not a control MSR the VmxCapabilities model needs;
            // InvalidOperationException (VmxCapabilityException among them): a control the capabilities do not allow.
            error.WriteLine("KvmNested: " + OneLine(e.Message));
            return 1;
        }
        catch (Exception e)
        {
            error.WriteLine($"KvmNested: unexpected {e.GetType().Name}: {OneLine(e.Message)}");
            return 1;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
