using System;
using System.Buffers.Binary;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// KVM_SET_NESTED_STATE's verdict on a <see cref="KvmNestedState"/>: the blob-only rules (<see cref="Validate"/>, used by
/// <see cref="Parse"/> and <see cref="Serialize"/>) and the rules that depend on the vCPU (<see cref="ValidateFor"/>).
/// </summary>
public sealed partial class KvmNestedState
{
    private const KvmNestedStateFlags GenericFlags = KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending | KvmNestedStateFlags.Evmcs
        | KvmNestedStateFlags.MtfPending | KvmNestedStateFlags.GifSet;
    private const KvmNestedStateFlags SvmFlags = KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending | KvmNestedStateFlags.GifSet;
    private const uint ShadowVmcsControl = VmxCapabilities.SecondaryVmcsShadowing;

    /// <summary>The blob-only rules (as <see cref="Parse"/>) for a state built or changed through the typed setters.</summary>
    public void Validate() => Verdict();

    /// <summary>
    /// The rules of KVM_SET_NESTED_STATE that depend on the vCPU (nested.c <c>vmx_set_nested_state</c>): VMX in CPUID,
    /// addresses below MAXPHYADDR, the SMM rules, eVMCS enabled, and — in guest mode, when capabilities are given — the
    /// VM-execution, exit and entry controls of vmcs12 against the allowed-0/allowed-1 bits of the capability MSRs
    /// (nested_vmx_check_controls, SDM 26.2.1.1). Throws <see cref="InvalidNestedStateException"/> naming the field.
    /// </summary>
    public void ValidateFor(KvmVcpuContext vcpu)
    {
        ArgumentNullException.ThrowIfNull(vcpu);
        Verdict();
        if (Format != KvmNestedStateFormat.Vmx)
        {
            throw new InvalidNestedStateException(2, "format", $"format {(ushort)Format} is not KVM_STATE_NESTED_FORMAT_VMX: a VMX vCPU rejects it");
        }

        bool Addressable(ulong address) => vcpu.PhysicalAddressWidth >= 64 || (address >> vcpu.PhysicalAddressWidth) == 0;
        var inVmx = VmxonPa != InvalidAddress;
        if (inVmx && !vcpu.VmxInCpuid)
        {
            throw new InvalidNestedStateException(8, "vmx.vmxon_pa", "the vCPU's CPUID has no VMX, so it cannot be in VMX operation");
        }

        if (inVmx && !Addressable(VmxonPa))
        {
            throw new InvalidNestedStateException(8, "vmx.vmxon_pa", $"0x{VmxonPa:X} is beyond the vCPU's MAXPHYADDR ({vcpu.PhysicalAddressWidth} bits)");
        }

        if (vcpu.InSmm ? (Flags & (KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending)) != 0 : SmmFlags != 0)
        {
            throw vcpu.InSmm
                ? new InvalidNestedStateException(0, "flags", "in SMM, VMX is off: neither guest mode nor a pending VM entry")
                : new InvalidNestedStateException(24, "vmx.smm.flags", "outside SMM the SMM flags must be zero");
        }

        if ((Flags & KvmNestedStateFlags.Evmcs) != 0 && (!vcpu.VmxInCpuid || !vcpu.EnlightenedVmcsEnabled))
        {
            throw new InvalidNestedStateException(0, "flags", "KVM_STATE_NESTED_EVMCS needs VMX in CPUID and KVM_CAP_HYPERV_ENLIGHTENED_VMCS enabled");
        }

        if (!inVmx || Size < HeaderSize + Vmcs12StructSize)
        {
            return;
        }

        if (Vmcs12Pa != InvalidAddress && !Addressable(Vmcs12Pa))
        {
            throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", $"0x{Vmcs12Pa:X} is beyond the vCPU's MAXPHYADDR ({vcpu.PhysicalAddressWidth} bits)");
        }

        if ((Flags & KvmNestedStateFlags.GuestMode) != 0 && vcpu.Capabilities is { } caps && Vmcs12 is { } vmcs12)
        {
            CheckControl(caps, VmxControl.PinBased, vmcs12.PinBasedVmExecControl, "pin_based_vm_exec_control",
                Layouts.Kvm.Vmcs12.Offsets.PinBasedVmExecControl);
            CheckControl(caps, VmxControl.PrimaryProcessorBased, vmcs12.CpuBasedVmExecControl, "cpu_based_vm_exec_control",
                Layouts.Kvm.Vmcs12.Offsets.CpuBasedVmExecControl);
            if ((vmcs12.CpuBasedVmExecControl & VmxCapabilities.ActivateSecondaryControls) != 0)
            {
                CheckControl(caps, VmxControl.SecondaryProcessorBased, vmcs12.SecondaryVmExecControl, "secondary_vm_exec_control",
                    Layouts.Kvm.Vmcs12.Offsets.SecondaryVmExecControl);
            }

            CheckControl(caps, VmxControl.VmExit, vmcs12.VmExitControls, "vm_exit_controls", Layouts.Kvm.Vmcs12.Offsets.VmExitControls);
            CheckControl(caps, VmxControl.VmEntry, vmcs12.VmEntryControls, "vm_entry_controls", Layouts.Kvm.Vmcs12.Offsets.VmEntryControls);
        }
    }

    private static void CheckControl(VmxCapabilities caps, VmxControl control, uint value, string field, int offset)
    {
        var allowed0 = caps.MustBeOne(control);
        var allowed1 = (uint)caps.Allowed1(control);
        if ((value & allowed0) != allowed0 || (value & ~allowed1) != 0)
        {
            throw new InvalidNestedStateException(HeaderSize + offset, "data.vmcs12." + field,
                $"0x{value:X8} breaks the vCPU's capability MSR: bits 0x{allowed0 & ~value:X8} must be 1, bits 0x{value & ~allowed1:X8} must be 0 (SDM " +
                    "26.2.1.1)");
        }
    }

    /// <summary>KVM's blob-only checks, in KVM's order; the first that fails is thrown.</summary>
    private void Verdict()
    {
        if (_bytes.Length < HeaderSize)
        {
            throw new InvalidNestedStateException(_bytes.Length, "header", $"the blob has {_bytes.Length} bytes; KVM reads a {HeaderSize}-byte header " +
                "(EFAULT)");
        }

        // arch/x86/kvm/x86.c, KVM_SET_NESTED_STATE
        var size = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(4));
        if (size < HeaderSize)
        {
            throw new InvalidNestedStateException(4, "size", $"size {size} is smaller than the {HeaderSize}-byte header");
        }

        if ((Flags & ~GenericFlags) != 0)
        {
            throw new InvalidNestedStateException(0, "flags",
                $"flags 0x{(ushort)Flags:X4} has bits KVM does not define (0x{(ushort)(Flags & ~GenericFlags):X4})");
        }

        if ((Flags & KvmNestedStateFlags.RunPending) != 0 && (Flags & KvmNestedStateFlags.GuestMode) == 0)
        {
            throw new InvalidNestedStateException(0, "flags", "KVM_STATE_NESTED_RUN_PENDING needs KVM_STATE_NESTED_GUEST_MODE");
        }

        switch (Format)
        {
            case KvmNestedStateFormat.Vmx:
                VmxVerdict(size);
                break;
            case KvmNestedStateFormat.Svm:
                SvmVerdict(size);
                break;
            default:
                throw new InvalidNestedStateException(2, "format", $"format {(ushort)Format} is neither KVM_STATE_NESTED_FORMAT_VMX (0) nor _SVM (1)");
        }
    }

    /// <summary>nested.c <c>vmx_set_nested_state</c>, the checks that read only the blob.</summary>
    private void VmxVerdict(uint size)
    {
        var flags = Flags;
        var smm = SmmFlags;
        if (VmxonPa == InvalidAddress)
        {
            if (smm != 0)
            {
                throw new InvalidNestedStateException(24, "vmx.smm.flags", "outside VMX operation (vmxon_pa = -1) the SMM flags must be zero");
            }

            if (Vmcs12Pa != InvalidAddress)
            {
                throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", "outside VMX operation (vmxon_pa = -1) there is no current vmcs12");
            }

            if ((flags & ~KvmNestedStateFlags.Evmcs) != 0)
            {
                throw new InvalidNestedStateException(0, "flags", "outside VMX operation (vmxon_pa = -1) only KVM_STATE_NESTED_EVMCS may be set");
            }
        }
        else if ((VmxonPa & 0xFFF) != 0)
        {
            throw new InvalidNestedStateException(8, "vmx.vmxon_pa", $"0x{VmxonPa:X} is not 4 KiB aligned");
        }

        if ((smm & SmmGuestMode) != 0 && (flags & KvmNestedStateFlags.GuestMode) != 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", "SMM guest mode and KVM_STATE_NESTED_GUEST_MODE exclude each other");
        }

        if ((smm & ~(SmmGuestMode | SmmVmxon)) != 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", $"flags 0x{smm:X4} has undefined bits");
        }

        if ((VmxHeaderFlags & ~VmxPreemptionTimerDeadline) != 0)
        {
            throw new InvalidNestedStateException(28, "vmx.flags", $"flags 0x{VmxHeaderFlags:X8} has undefined bits");
        }

        if ((smm & SmmGuestMode) != 0 && (smm & SmmVmxon) == 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", "SMM guest mode needs SMM VMXON");
        }

        if (VmxonPa == InvalidAddress)
        {
            return;
        }

        var evmcs = (flags & KvmNestedStateFlags.Evmcs) != 0;
        if (size < HeaderSize + Vmcs12StructSize)
        {
            if ((flags & KvmNestedStateFlags.GuestMode) != 0 || evmcs || Vmcs12Pa != InvalidAddress)
            {
                throw new InvalidNestedStateException(4, "size", $"size {size} carries no vmcs12 (at least {HeaderSize + Vmcs12StructSize} bytes), " +
                    "which guest mode, eVMCS or a vmcs12 pointer needs");
            }

            return;
        }

        if (Vmcs12Pa != InvalidAddress)
        {
            if (Vmcs12Pa == VmxonPa)
            {
                throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", "the vmcs12 pointer equals the VMXON pointer");
            }

            if ((Vmcs12Pa & 0xFFF) != 0)
            {
                throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", $"0x{Vmcs12Pa:X} is not 4 KiB aligned");
            }
        }
        else if (!evmcs)
        {
            throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", $"size {size} carries a vmcs12 but there is no current vmcs12 (vmcs12_pa = -1, " +
                "no eVMCS)");
        }

        Readable(HeaderSize, Vmcs12StructSize, "data.vmcs12");
        var revision = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize)) & 0x7FFF_FFFF;
        if (revision != Layouts.Kvm.Vmcs12.Revision)
        {
            throw new InvalidNestedStateException(HeaderSize, "data.vmcs12.hdr.revision_id",
                $"revision 0x{revision:X8} is not VMCS12_REVISION 0x{Layouts.Kvm.Vmcs12.Revision:X8}");
        }

        if ((flags & KvmNestedStateFlags.GuestMode) == 0)
        {
            return;
        }

        // In guest mode, L1's shadow VMCS for L2 must come along when vmcs12 enables shadowing with a link pointer.
        var cpuBased = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize + Layouts.Kvm.Vmcs12.Offsets.CpuBasedVmExecControl));
        var secondary = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize + Layouts.Kvm.Vmcs12.Offsets.SecondaryVmExecControl));
        var link = BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(HeaderSize + Layouts.Kvm.Vmcs12.Offsets.VmcsLinkPointer));
        var shadowing = (cpuBased & VmxCapabilities.ActivateSecondaryControls) != 0 && (secondary & ShadowVmcsControl) != 0;
        if (!shadowing || link == InvalidAddress)
        {
            return;
        }

        if (size < HeaderSize + Vmcs12Size + Vmcs12StructSize)
        {
            throw new InvalidNestedStateException(4, "size", $"vmcs12 enables VMCS shadowing with link pointer 0x{link:X}, so the state needs the shadow " +
                $"vmcs12 (at least {HeaderSize + Vmcs12Size + Vmcs12StructSize} bytes); size is {size}");
        }

        Readable(HeaderSize + Vmcs12Size, Vmcs12StructSize, "data.shadow_vmcs12");
        var shadowHeader = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize + Vmcs12Size));
        if ((shadowHeader & 0x7FFF_FFFF) != Layouts.Kvm.Vmcs12.Revision)
        {
            throw new InvalidNestedStateException(HeaderSize + Vmcs12Size, "data.shadow_vmcs12.hdr.revision_id",
                $"revision 0x{shadowHeader & 0x7FFF_FFFF:X8} is not VMCS12_REVISION 0x{Layouts.Kvm.Vmcs12.Revision:X8}");
        }

        if ((shadowHeader & 0x8000_0000) == 0)
        {
            throw new InvalidNestedStateException(HeaderSize + Vmcs12Size + 3, "data.shadow_vmcs12.hdr.shadow_vmcs",
                "the shadow vmcs12 must have the shadow-VMCS indicator set");
        }
    }

    /// <summary>svm/nested.c <c>svm_set_nested_state</c>, the checks that read only the blob.</summary>
    private void SvmVerdict(uint size)
    {
        if ((Flags & ~SvmFlags) != 0)
        {
            throw new InvalidNestedStateException(0, "flags", $"flags 0x{(ushort)Flags:X4} has bits the SVM format does not take " +
                $"(0x{(ushort)(Flags & ~SvmFlags):X4})");
        }

        if ((Flags & KvmNestedStateFlags.GuestMode) == 0)
        {
            return;
        }

        if ((SvmVmcbPa & 0xFFF) != 0)
        {
            throw new InvalidNestedStateException(8, "svm.vmcb_pa", $"0x{SvmVmcbPa:X} is not 4 KiB aligned");
        }

        if (size < HeaderSize + SvmVmcbSize)
        {
            throw new InvalidNestedStateException(4, "size", $"in guest mode the SVM state needs its {SvmVmcbSize}-byte vmcb12 (at least " +
                $"{HeaderSize + SvmVmcbSize} bytes); size is {size}");
        }

        Readable(HeaderSize, SvmVmcbSize, "data.svm.vmcb12");
    }

    /// <summary>KVM copies these bytes from the caller: a blob that ends before them would fault (EFAULT).</summary>
    private void Readable(int offset, int count, string field)
    {
        if (_bytes.Length < offset + count)
        {
            throw new InvalidNestedStateException(_bytes.Length, field, $"the size field promises {offset + count} bytes and KVM reads them, " +
                $"but the blob ends at {_bytes.Length} (EFAULT)");
        }
    }
}
