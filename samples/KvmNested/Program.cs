using VmcsGen.Backends.Kvm;
using VmcsGen.Samples.KvmNested;

// Runs a real L2 under KVM: a vmcs12 built with the generated Vmcs12 of fields/kvm.vmcs (L2: cpuid; hlt), handed to KVM with
// KVM_SET_NESTED_STATE in guest mode, KVM_RUN until L1's exit handler writes to port 0x10, then KVM_GET_NESTED_STATE and
// the exit L1 received, read through the generated accessors. Needs an Intel host with nested VMX; elsewhere it says in
// one line what the host lacks and exits with status 2.
return KvmNestedSample.Run(args.Length > 0 ? args[0] : KvmSystem.DefaultPath, IKvmDevice.Libc, System.Console.Out, System.Console.Error);
