using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Backends.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>The fake's KVM_SET_NESTED_STATE and KVM_GET_NESTED_STATE (vmx/nested.c <c>vmx_set_nested_state</c>, <c>vmx_get_nested_state</c>).</summary>
internal sealed partial class FakeKvmDevice
{
    // struct vmcs12 offsets (vmx/vmcs12.h CHECK_OFFSET), written out here rather than taken from the generated layout.
    private const int Vmcs12GuestCr0 = 424, Vmcs12GuestCr4 = 440, Vmcs12GuestRsp = 536, Vmcs12GuestRip = 544, Vmcs12GuestRflags = 552;
    private const int Vmcs12HostCr0 = 584, Vmcs12HostCr4 = 600, Vmcs12HostRsp = 664, Vmcs12HostRip = 672;
    private const int Vmcs12ExitQualification = 408, Vmcs12ExitReason = 812, Vmcs12ExitInstructionLen = 832;

    /// <summary>The CR4 bits <c>nested_vmx_cr_fixed1_bits_update</c> (vmx/vmx.c) allows for a vCPU with this CPUID.</summary>
    public static ulong Cr4Fixed1(IReadOnlyList<KvmCpuidEntry> cpuid)
    {
        var leaf1 = cpuid.FirstOrDefault(e => e.Function == 1);
        var leaf7 = cpuid.FirstOrDefault(e => e.Function == 7 && e.Index == 0);
        var leaf71 = cpuid.FirstOrDefault(e => e.Function == 7 && e.Index == 1);
        var fixed1 = 1ul << 8; // PCE
        void Grant(int cr4Bit, uint register, int cpuidBit)
        {
            if ((register & (1u << cpuidBit)) != 0)
            {
                fixed1 |= 1ul << cr4Bit;
            }
        }

        // (CR4 bit, CPUID register, CPUID bit) as the kernel lists them: VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, OSFXSR, OSXMMEXCPT …
        Grant(0, leaf1.Edx, 1);
        Grant(1, leaf1.Edx, 1);
        Grant(2, leaf1.Edx, 4);
        Grant(3, leaf1.Edx, 2);
        Grant(4, leaf1.Edx, 3);
        Grant(5, leaf1.Edx, 6);
        Grant(6, leaf1.Edx, 7);
        Grant(7, leaf1.Edx, 13);
        Grant(9, leaf1.Edx, 24);
        Grant(10, leaf1.Edx, 25);
        Grant(13, leaf1.Ecx, 5);   // VMXE ← VMX
        Grant(14, leaf1.Ecx, 6);   // SMXE ← SMX
        Grant(17, leaf1.Ecx, 17);  // PCIDE ← PCID
        Grant(18, leaf1.Ecx, 26);  // OSXSAVE ← XSAVE
        Grant(16, leaf7.Ebx, 0);   // FSGSBASE
        Grant(20, leaf7.Ebx, 7);   // SMEP
        Grant(21, leaf7.Ebx, 20);  // SMAP
        Grant(22, leaf7.Ecx, 3);   // PKE ← PKU
        Grant(11, leaf7.Ecx, 2);   // UMIP
        Grant(12, leaf7.Ecx, 16);  // LA57
        Grant(28, leaf71.Eax, 26); // LAM_SUP ← LAM
        return fixed1;
    }

    private int SetNestedState(ReadOnlySpan<byte> blob)
    {
        if (Host != FakeKvmHost.Intel)
        {
            return Einval; // no vmx_set_nested_state: SVM rejects the VMX format, a KVM without nested_ops has no set_state
        }

        var flags = BinaryPrimitives.ReadUInt16LittleEndian(blob);
        var vmxonPa = BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]);
        var vmxInCpuid = _cpuid.Any(e => e.Function == 1 && (e.Ecx & (1u << 5)) != 0);
        if (vmxonPa != ulong.MaxValue && !(vmxInCpuid && NestedVmx))
        {
            return Einval; // !guest_cpu_cap_has(vcpu, X86_FEATURE_VMX)
        }

        if ((flags & 1) == 0)
        {
            _nestedState = blob.ToArray();
            return 0;
        }

        var vmcs12 = blob[128..].ToArray();
        ulong Field(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(vmcs12.AsSpan(offset));
        static bool FixedBitsValid(ulong value, ulong fixed0, ulong fixed1) => ((value & fixed1) | fixed0) == value;
        var cr0Fixed0 = VmxMsrs[VmxMsr.Cr0Fixed0];
        var cr4Fixed0 = VmxMsrs[VmxMsr.Cr4Fixed0];
        const ulong cr0Fixed1 = 0xFFFF_FFFF;
        var cr4Fixed1 = Cr4Fixed1(_cpuid);
        if (!FixedBitsValid(Field(Vmcs12HostCr0), cr0Fixed0, cr0Fixed1) || !FixedBitsValid(Field(Vmcs12HostCr4), cr4Fixed0, cr4Fixed1)
            || !FixedBitsValid(Field(Vmcs12GuestCr0), cr0Fixed0, cr0Fixed1) || !FixedBitsValid(Field(Vmcs12GuestCr4), cr4Fixed0, cr4Fixed1))
        {
            return Einval; // nested_vmx_check_host_state / nested_vmx_check_guest_state
        }

        // prepare_vmcs02: L2's RIP, RSP and RFLAGS come from vmcs12; the other registers stay what they were.
        Registers = (Field(Vmcs12GuestRip), Field(Vmcs12GuestRsp), Field(Vmcs12GuestRflags), Registers.Rax);
        GuestMode = true;
        _nestedState = blob.ToArray();
        return 0;
    }

    private void GetNestedState(Span<byte> argument)
    {
        if (NestedStateToReturn is { } scripted)
        {
            scripted.CopyTo(argument);
            return;
        }

        if (_nestedState is { } state)
        {
            state.CopyTo(argument);
            return;
        }

        // vmx_get_nested_state for a vCPU outside VMX operation: the header, vmxon_pa = vmcs12_pa = -1.
        argument[..128].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(argument[4..], 128);
        BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], ulong.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(argument[16..], ulong.MaxValue);
    }
}
