using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// Everything a vCPU needs to hold a nested state with L2 running, built from the generated <see cref="Vmcs12"/> of
/// fields/kvm.vmcs: a tiny L1 and L2 in 32-bit protected mode with paging (one 4 MiB identity page), L2 running
/// <c>cpuid; hlt</c>, L1's exit handler at vmcs12's HOST_RIP doing <c>out 0x10, al; hlt</c>. <see cref="Apply"/> sets it up
/// in the order of QEMU's <c>kvm_arch_put_registers</c> (target/i386/kvm/kvm.c): guest memory and CPUID with VMX first
/// (QEMU sets CPUID at vCPU creation), then IA32_FEATURE_CONTROL locked with VMX, L1's segment and control registers
/// (CR4.VMXE), KVM_SET_NESTED_STATE in guest mode, and last the general registers.
/// <para>
/// What each part becomes: the sregs are L1's (vmcs01) while L2 runs, but L1 never resumes from them — the nested VM
/// exit loads L1's state from vmcs12's host-state fields (<c>load_vmcs12_host_state</c>, arch/x86/kvm/vmx/nested.c), so
/// L1 resumes at HOST_RIP <see cref="L1Code"/> with HOST_RSP <see cref="L1Stack"/>. KVM_SET_NESTED_STATE enters guest
/// mode and <c>prepare_vmcs02</c> loads L2's RIP, RSP and RFLAGS from vmcs12; the KVM_SET_REGS after it therefore sets
/// L2's registers, which is why <see cref="Regs"/> holds exactly vmcs12's guest RIP/RSP/RFLAGS and the GPRs L2 starts
/// with (RAX = 0: L2's CPUID reads leaf 0).
/// </para>
/// <para>
/// No in-kernel irqchip (KVM_CREATE_IRQCHIP), unlike the KVM selftests (<c>kvm_arch_vm_post_create</c> calls
/// <c>vm_create_irqchip</c>, tools/testing/selftests/kvm/lib/x86_64/processor.c) and QEMU: nothing here takes an
/// interrupt, and with the local APIC in user space a HLT returns to us as KVM_EXIT_HLT (x86.c <c>__kvm_emulate_halt</c>),
/// whereas an in-kernel APIC would block KVM_RUN on a HLT with interrupts off until a signal — so an L1 or L2 that halts
/// where it should not ends the run with a named exit instead of hanging it.
/// </para>
/// </summary>
public sealed class KvmNestedLaunch
{
    public const int MemorySize = 1 << 20;
    public const ulong PageDirectory = 0x1000, Gdt = 0x2000, Tss = 0x3000, VmxonRegion = 0x4000, Vmcs12Region = 0x5000;
    public const ulong L1Code = 0x6000, L2Code = 0x7000, L1Stack = 0x8000, L2Stack = 0x9000;

    /// <summary>The port L1's exit handler writes to: KVM_RUN returns with KVM_EXIT_IO on it once L2 has exited to L1.</summary>
    public const ushort L1Port = 0x10;

    public const uint FeatureControlMsr = 0x3A;

    /// <summary>IA32_FEATURE_CONTROL: lock (bit 0) and "enable VMX outside SMX operation" (bit 2).</summary>
    public const ulong FeatureControlLockedVmx = 0x5;

    private const ushort CodeSelector = 0x08, DataSelector = 0x10, TssSelector = 0x18;
    private const ulong Cr0 = 0x8000_0031, Cr4 = 0x2010; // PE NE ET PG; PSE VMXE

    /// <summary>CPUID.1:ECX bit 5 (VMX), which grants CR4.VMXE; CPUID.1:EDX bit 3 (PSE), which grants CR4.PSE.</summary>
    public const uint Leaf1EcxVmx = 1u << 5, Leaf1EdxPse = 1u << 3;

    private KvmNestedLaunch(byte[] memory, IReadOnlyList<KvmCpuidEntry> cpuid, KvmSregs sregs, KvmRegs regs, KvmNestedState state)
    {
        Memory = memory;
        Cpuid = cpuid;
        Sregs = sregs;
        Regs = regs;
        State = state;
    }

    /// <summary>The first <see cref="MemorySize"/> bytes of guest memory: page directory, GDT, TSS, VMXON and vmcs12 regions, code.</summary>
    public byte[] Memory { get; }

    public IReadOnlyList<KvmCpuidEntry> Cpuid { get; }

    /// <summary>L1's segment and control registers (KVM_SET_SREGS before the nested state): CR0.PG, CR4.VMXE.</summary>
    public KvmSregs Sregs { get; }

    /// <summary>L2's general registers (KVM_SET_REGS after the nested state): RIP, RSP and RFLAGS equal vmcs12's guest fields.</summary>
    public KvmRegs Regs { get; }

    public KvmNestedState State { get; }

    public IReadOnlyList<(uint Index, ulong Value)> Msrs { get; } = [(FeatureControlMsr, FeatureControlLockedVmx)];

    /// <summary>Builds the launch for a vCPU whose VMX capabilities (what KVM offers L1) and supported CPUID are given.</summary>
    public static KvmNestedLaunch Build(VmxCapabilities capabilities, IReadOnlyList<KvmCpuidEntry> supportedCpuid)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        var memory = new byte[MemorySize];
        BitConverter.TryWriteBytes(memory.AsSpan((int)PageDirectory), 0x83u); // 4 MiB page at 0: present, writable, PS
        BitConverter.TryWriteBytes(memory.AsSpan((int)Gdt + 8), 0x00CF_9A00_0000_FFFFul); // 0x08: 32-bit code
        BitConverter.TryWriteBytes(memory.AsSpan((int)Gdt + 16), 0x00CF_9200_0000_FFFFul); // 0x10: data
        BitConverter.TryWriteBytes(memory.AsSpan((int)Gdt + 24), 0x0000_8B00_3000_0067ul); // 0x18: busy 32-bit TSS at 0x3000
        BitConverter.TryWriteBytes(memory.AsSpan((int)VmxonRegion), Vmcs12.Revision);
        BitConverter.TryWriteBytes(memory.AsSpan((int)Vmcs12Region), Vmcs12.Revision);
        memory.AsSpan((int)L1Code).Clear();
        new byte[] { 0xE6, (byte)L1Port, 0xF4, 0xEB, 0xFD }.CopyTo(memory, (int)L1Code); // out 0x10, al; hlt; jmp hlt
        new byte[] { 0x0F, 0xA2, 0xF4, 0xEB, 0xFD }.CopyTo(memory, (int)L2Code);          // cpuid; hlt; jmp hlt

        // Leaf 1 must grant the CR4 bits the launch uses: after KVM_SET_CPUID2, nested_vmx_cr_fixed1_bits_update
        // (arch/x86/kvm/vmx/vmx.c) allows CR4.VMXE only with CPUID.1:ECX.VMX and CR4.PSE only with CPUID.1:EDX.PSE, and
        // KVM_SET_NESTED_STATE checks vmcs12's host and guest CR4 against those bits (nested_cr4_valid, EINVAL).
        var cpuid = supportedCpuid
            .Select(e => e.Function == 1 ? e with { Ecx = e.Ecx | Leaf1EcxVmx, Edx = e.Edx | Leaf1EdxPse } : e)
            .ToList();
        if (!cpuid.Any(e => e.Function == 1))
        {
            cpuid.Add(new KvmCpuidEntry(1, 0, 0, 0x000506E3, 0, Leaf1EcxVmx, Leaf1EdxPse));
        }

        var flatCode = KvmSegment.Flat(CodeSelector, 0xB);
        var flatData = KvmSegment.Flat(DataSelector, 0x3);
        var sregs = new KvmSregs
        {
            Cs = flatCode, Ds = flatData, Es = flatData, Fs = flatData, Gs = flatData, Ss = flatData,
            Tr = new KvmSegment(Tss, 0x67, TssSelector, 0xB, true, 0, false, false, false, false, false, false),
            Ldt = new KvmSegment(0, 0, 0, 0x2, false, 0, false, false, false, false, false, true),
            GdtBase = Gdt, GdtLimit = 0x1F, IdtBase = 0, IdtLimit = 0,
            Cr0 = Cr0, Cr3 = PageDirectory, Cr4 = Cr4, Efer = 0, ApicBase = 0xFEE0_0900,
        };
        var regs = new KvmRegs { Rip = L2Code, Rsp = L2Stack, Rflags = 2, Rax = 0 }; // L2's: set after the nested state (see the class remarks)

        var vmcs12 = Vmcs12.Create();
        vmcs12.LaunchState = 1;
        vmcs12.PinBasedVmExecControl = capabilities.MustBeOne(VmxControl.PinBased);
        vmcs12.CpuBasedVmExecControl = capabilities.MustBeOne(VmxControl.PrimaryProcessorBased);
        vmcs12.VmExitControls = capabilities.MustBeOne(VmxControl.VmExit) & ~(1u << 9); // a 32-bit L1: "host address-space size" 0
        vmcs12.VmEntryControls = capabilities.MustBeOne(VmxControl.VmEntry) & ~(1u << 9);
        vmcs12.VmcsLinkPointer = ulong.MaxValue;
        vmcs12.GuestCr0 = Cr0;
        vmcs12.GuestCr3 = PageDirectory;
        vmcs12.GuestCr4 = Cr4;
        vmcs12.Cr0ReadShadow = Cr0;
        vmcs12.Cr4ReadShadow = Cr4 & ~0x2000ul;
        vmcs12.GuestDr7 = 0x400;
        vmcs12.GuestRip = L2Code;
        vmcs12.GuestRsp = L2Stack;
        vmcs12.GuestRflags = 2;
        vmcs12.GuestCsSelector = CodeSelector;
        vmcs12.GuestCsLimit = 0xFFFF_FFFF;
        vmcs12.GuestCsArBytes = 0xC09B;
        foreach (var set in new Action<ushort, uint, uint>[]
        {
            (s, l, a) => { vmcs12.GuestSsSelector = s; vmcs12.GuestSsLimit = l; vmcs12.GuestSsArBytes = a; },
            (s, l, a) => { vmcs12.GuestDsSelector = s; vmcs12.GuestDsLimit = l; vmcs12.GuestDsArBytes = a; },
            (s, l, a) => { vmcs12.GuestEsSelector = s; vmcs12.GuestEsLimit = l; vmcs12.GuestEsArBytes = a; },
            (s, l, a) => { vmcs12.GuestFsSelector = s; vmcs12.GuestFsLimit = l; vmcs12.GuestFsArBytes = a; },
            (s, l, a) => { vmcs12.GuestGsSelector = s; vmcs12.GuestGsLimit = l; vmcs12.GuestGsArBytes = a; },
        })
        {
            set(DataSelector, 0xFFFF_FFFF, 0xC093);
        }

        vmcs12.GuestTrSelector = TssSelector;
        vmcs12.GuestTrBase = Tss;
        vmcs12.GuestTrLimit = 0x67;
        vmcs12.GuestTrArBytes = 0x8B;
        vmcs12.GuestLdtrArBytes = 0x10000;
        vmcs12.GuestGdtrBase = Gdt;
        vmcs12.GuestGdtrLimit = 0x1F;
        vmcs12.HostCr0 = Cr0;
        vmcs12.HostCr3 = PageDirectory;
        vmcs12.HostCr4 = Cr4;
        vmcs12.HostCsSelector = CodeSelector;
        vmcs12.HostSsSelector = DataSelector;
        vmcs12.HostDsSelector = DataSelector;
        vmcs12.HostEsSelector = DataSelector;
        vmcs12.HostFsSelector = DataSelector;
        vmcs12.HostGsSelector = DataSelector;
        vmcs12.HostTrSelector = TssSelector;
        vmcs12.HostTrBase = Tss;
        vmcs12.HostGdtrBase = Gdt;
        vmcs12.HostRip = L1Code;
        vmcs12.HostRsp = L1Stack;

        var state = new KvmNestedState
        {
            Flags = KvmNestedStateFlags.GuestMode,
            VmxonPa = VmxonRegion,
            Vmcs12Pa = Vmcs12Region,
            Vmcs12 = vmcs12,
        };
        state.Validate();
        return new KvmNestedLaunch(memory, cpuid, sregs, regs, state);
    }

    /// <summary>
    /// Sets the launch up on a fresh VM and vCPU in <c>kvm_arch_put_registers</c>' order (MSRs, sregs, nested state, regs);
    /// <paramref name="memory"/> becomes guest memory at 0 and must outlive the VM.
    /// </summary>
    public void Apply(KvmVm vm, KvmVcpu vcpu, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(vm);
        ArgumentNullException.ThrowIfNull(vcpu);
        ArgumentNullException.ThrowIfNull(memory);
        if (memory.Size < MemorySize)
        {
            throw new ArgumentException($"guest memory of {memory.Size} bytes; the launch needs {MemorySize}", nameof(memory));
        }

        Memory.CopyTo(memory.Bytes);
        vm.SetUserMemoryRegion(0, 0, memory);
        vcpu.SetCpuid(Cpuid);
        vcpu.SetMsrs(Msrs);
        vcpu.SetSregs(Sregs);
        vcpu.SetNestedState(State);
        vcpu.SetRegs(Regs);
    }
}
