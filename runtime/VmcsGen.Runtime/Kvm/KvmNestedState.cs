using System;
using System.Buffers.Binary;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Backends.Kvm;

/// <summary>Flags of <c>struct kvm_nested_state</c> (include/uapi/asm/kvm.h).</summary>
[Flags]
public enum KvmNestedStateFlags : ushort
{
    None = 0,
    GuestMode = 0x1,
    RunPending = 0x2,
    Evmcs = 0x4,
    MtfPending = 0x8,

    /// <summary>SVM's global interrupt flag; KVM's generic check lets it through, the VMX code ignores it once in VMX operation.</summary>
    GifSet = 0x100,
}

/// <summary><c>kvm_nested_state.format</c>.</summary>
public enum KvmNestedStateFormat : ushort
{
    Vmx = 0,
    Svm = 1,
}

/// <summary>A blob that KVM_SET_NESTED_STATE would refuse, or a vCPU that cannot take it: names the byte offset, the field and KVM's rule.</summary>
public sealed class InvalidNestedStateException(int offset, string field, string rule)
    : FormatException($"kvm_nested_state: byte offset {offset} ({field}): {rule}")
{
    public int Offset { get; } = offset;

    public string Field { get; } = field;
}

/// <summary>What of the vCPU KVM_SET_NESTED_STATE's verdict also depends on (see <see cref="KvmNestedState.ValidateFor"/>).</summary>
/// <param name="VmxInCpuid">The vCPU's CPUID has VMX (X86_FEATURE_VMX).</param>
/// <param name="PhysicalAddressWidth">The vCPU's MAXPHYADDR: VMXON and vmcs12 pointers must lie below it.</param>
/// <param name="InSmm">The vCPU is in SMM.</param>
/// <param name="EnlightenedVmcsEnabled">KVM_CAP_HYPERV_ENLIGHTENED_VMCS was enabled on the vCPU.</param>
/// <param name="Capabilities">The VMX capability MSRs the vCPU reports; when given, vmcs12's controls are checked against them.</param>
public sealed record KvmVcpuContext(
    bool VmxInCpuid = true, int PhysicalAddressWidth = 46, bool InSmm = false, bool EnlightenedVmcsEnabled = false, VmxCapabilities? Capabilities = null);

/// <summary>
/// A vCPU's nested state as KVM_GET_NESTED_STATE returns it and KVM_SET_NESTED_STATE takes it. <b>The state is its
/// bytes</b>: every blob KVM would accept is kept exactly, including what this type does not interpret (an SVM-format
/// state, header bytes a later KVM defines, bytes after the images), so GET → SET round-trips byte for byte. The typed
/// view (flags, the VMX header, vmcs12 and the shadow vmcs12 in KVM's layout <see cref="Vmcs12"/>) reads those bytes, and
/// its setters write them.
/// <para>
/// <see cref="Parse"/> gives KVM's verdict on the blob alone (x86.c <c>kvm_arch_vcpu_ioctl</c> and nested.c
/// <c>vmx_set_nested_state</c>, svm/nested.c <c>svm_set_nested_state</c>): it rejects exactly what KVM rejects whatever
/// the vCPU, with KVM's reason and the byte offset, and accepts everything else. What depends on the vCPU (VMX in CPUID,
/// MAXPHYADDR, SMM, eVMCS, vmcs12's consistency checks) is <see cref="ValidateFor"/>, never part of parsing.
/// </para>
/// </summary>
public sealed class KvmNestedState
{
    public const int HeaderSize = 128;

    /// <summary>KVM_STATE_NESTED_VMX_VMCS_SIZE: the room for each image in the blob.</summary>
    public const int Vmcs12Size = 0x1000;

    /// <summary><c>sizeof(struct vmcs12)</c> (packed): what KVM reads of each image and the minimum size that carries one.</summary>
    public const int Vmcs12StructSize = 998;

    /// <summary>KVM_STATE_NESTED_SVM_VMCB_SIZE.</summary>
    public const int SvmVmcbSize = 0x1000;

    public const ushort FormatVmx = 0;
    public const ulong InvalidAddress = ulong.MaxValue;
    public const ushort SmmGuestMode = 0x1, SmmVmxon = 0x2;
    public const uint VmxPreemptionTimerDeadline = 0x1;

    private const KvmNestedStateFlags GenericFlags = KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending | KvmNestedStateFlags.Evmcs | KvmNestedStateFlags.MtfPending | KvmNestedStateFlags.GifSet;
    private const KvmNestedStateFlags SvmFlags = KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending | KvmNestedStateFlags.GifSet;
    private const uint ShadowVmcsControl = VmxCapabilities.SecondaryVmcsShadowing;

    private byte[] _bytes;

    /// <summary>A VMX state outside VMX operation: the 128-byte header, vmxon_pa = vmcs12_pa = -1.</summary>
    public KvmNestedState()
    {
        _bytes = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(4), HeaderSize);
        VmxonPa = InvalidAddress;
        Vmcs12Pa = InvalidAddress;
    }

    private KvmNestedState(byte[] bytes) => _bytes = bytes;

    /// <summary>The blob, exactly as parsed (or as the setters left it).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    public KvmNestedStateFlags Flags
    {
        get => (KvmNestedStateFlags)BinaryPrimitives.ReadUInt16LittleEndian(_bytes);
        set => BinaryPrimitives.WriteUInt16LittleEndian(_bytes, (ushort)value);
    }

    public KvmNestedStateFormat Format => (KvmNestedStateFormat)BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(2));

    /// <summary>The header's size field: what KVM takes as the length of the state.</summary>
    public int Size => (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(4)), int.MaxValue);

    /// <summary>Guest-physical address of L1's VMXON region; <see cref="InvalidAddress"/> when L1 is not in VMX operation.</summary>
    public ulong VmxonPa
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(8));
        set => BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(8), value);
    }

    /// <summary>L1's current-VMCS pointer; <see cref="InvalidAddress"/> when none.</summary>
    public ulong Vmcs12Pa
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(16));
        set => BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(16), value);
    }

    /// <summary>SVM format: the guest-physical address of L1's vmcb12 (the same bytes as <see cref="VmxonPa"/>).</summary>
    public ulong SvmVmcbPa => VmxonPa;

    public ushort SmmFlags
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(24));
        set => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(24), value);
    }

    public uint VmxHeaderFlags
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(28));
        set => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(28), value);
    }

    public ulong PreemptionTimerDeadline
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(32));
        set => BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(32), value);
    }

    /// <summary>
    /// The vmcs12 image, when the state carries one (size ≥ 128 + sizeof(struct vmcs12)); bytes the blob does not have
    /// read as zero. Setting it stores a full 4 KiB image (and sets the size field); null removes both images.
    /// </summary>
    public Vmcs12? Vmcs12
    {
        get => Size >= HeaderSize + Vmcs12StructSize ? ReadImage(HeaderSize) : null;
        set
        {
            if (value is not { } image)
            {
                Resize(HeaderSize);
                return;
            }

            Resize(Math.Max(HeaderSize + Vmcs12Size, Size >= HeaderSize + Vmcs12Size + Vmcs12StructSize ? Size : 0));
            Layouts.Kvm.Vmcs12.AsBytes(ref image).CopyTo(_bytes.AsSpan(HeaderSize, Vmcs12Size));
        }
    }

    /// <summary>The vmcs12 of the shadow VMCS L1 itself uses for L2 (its VMCS link pointer), when present.</summary>
    public Vmcs12? ShadowVmcs12
    {
        get => Size >= HeaderSize + Vmcs12Size + Vmcs12StructSize ? ReadImage(HeaderSize + Vmcs12Size) : null;
        set
        {
            if (value is not { } image)
            {
                if (Size > HeaderSize + Vmcs12Size)
                {
                    Resize(HeaderSize + Vmcs12Size);
                }

                return;
            }

            if (Size < HeaderSize + Vmcs12StructSize)
            {
                throw new InvalidOperationException("kvm_nested_state: set Vmcs12 before ShadowVmcs12 (the shadow image follows the vmcs12 image)");
            }

            Resize(HeaderSize + (2 * Vmcs12Size));
            Layouts.Kvm.Vmcs12.AsBytes(ref image).CopyTo(_bytes.AsSpan(HeaderSize + Vmcs12Size, Vmcs12Size));
        }
    }

    /// <summary>
    /// KVM's verdict on a blob: returns the state (carrying every byte) when KVM_SET_NESTED_STATE could accept it on some
    /// vCPU, throws <see cref="InvalidNestedStateException"/> with KVM's reason and the byte offset when no vCPU would.
    /// </summary>
    public static KvmNestedState Parse(ReadOnlySpan<byte> blob)
    {
        var state = new KvmNestedState(blob.ToArray());
        state.Verdict();
        return state;
    }

    /// <summary>The blob KVM_SET_NESTED_STATE takes: the bytes, after the same verdict as <see cref="Parse"/> (an invalid state produces nothing).</summary>
    public byte[] Serialize()
    {
        Verdict();
        return (byte[])_bytes.Clone();
    }

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
            CheckControl(caps, VmxControl.PinBased, vmcs12.PinBasedVmExecControl, "pin_based_vm_exec_control", Layouts.Kvm.Vmcs12.Offsets.PinBasedVmExecControl);
            CheckControl(caps, VmxControl.PrimaryProcessorBased, vmcs12.CpuBasedVmExecControl, "cpu_based_vm_exec_control", Layouts.Kvm.Vmcs12.Offsets.CpuBasedVmExecControl);
            if ((vmcs12.CpuBasedVmExecControl & VmxCapabilities.ActivateSecondaryControls) != 0)
            {
                CheckControl(caps, VmxControl.SecondaryProcessorBased, vmcs12.SecondaryVmExecControl, "secondary_vm_exec_control", Layouts.Kvm.Vmcs12.Offsets.SecondaryVmExecControl);
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
                $"0x{value:X8} breaks the vCPU's capability MSR: bits 0x{allowed0 & ~value:X8} must be 1, bits 0x{value & ~allowed1:X8} must be 0 (SDM 26.2.1.1)");
        }
    }

    /// <summary>KVM's blob-only checks, in KVM's order; the first that fails is thrown.</summary>
    private void Verdict()
    {
        if (_bytes.Length < HeaderSize)
        {
            throw new InvalidNestedStateException(_bytes.Length, "header", $"the blob has {_bytes.Length} bytes; KVM reads a {HeaderSize}-byte header (EFAULT)");
        }

        // arch/x86/kvm/x86.c, KVM_SET_NESTED_STATE
        var size = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(4));
        if (size < HeaderSize)
        {
            throw new InvalidNestedStateException(4, "size", $"size {size} is smaller than the {HeaderSize}-byte header");
        }

        if ((Flags & ~GenericFlags) != 0)
        {
            throw new InvalidNestedStateException(0, "flags", $"flags 0x{(ushort)Flags:X4} has bits KVM does not define (0x{(ushort)(Flags & ~GenericFlags):X4})");
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
                throw new InvalidNestedStateException(4, "size", $"size {size} carries no vmcs12 (at least {HeaderSize + Vmcs12StructSize} bytes), which guest mode, eVMCS or a vmcs12 pointer needs");
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
            throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", $"size {size} carries a vmcs12 but there is no current vmcs12 (vmcs12_pa = -1, no eVMCS)");
        }

        Readable(HeaderSize, Vmcs12StructSize, "data.vmcs12");
        var revision = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize)) & 0x7FFF_FFFF;
        if (revision != Layouts.Kvm.Vmcs12.Revision)
        {
            throw new InvalidNestedStateException(HeaderSize, "data.vmcs12.hdr.revision_id", $"revision 0x{revision:X8} is not VMCS12_REVISION 0x{Layouts.Kvm.Vmcs12.Revision:X8}");
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
            throw new InvalidNestedStateException(4, "size", $"vmcs12 enables VMCS shadowing with link pointer 0x{link:X}, so the state needs the shadow vmcs12 (at least {HeaderSize + Vmcs12Size + Vmcs12StructSize} bytes); size is {size}");
        }

        Readable(HeaderSize + Vmcs12Size, Vmcs12StructSize, "data.shadow_vmcs12");
        var shadowHeader = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(HeaderSize + Vmcs12Size));
        if ((shadowHeader & 0x7FFF_FFFF) != Layouts.Kvm.Vmcs12.Revision)
        {
            throw new InvalidNestedStateException(HeaderSize + Vmcs12Size, "data.shadow_vmcs12.hdr.revision_id", $"revision 0x{shadowHeader & 0x7FFF_FFFF:X8} is not VMCS12_REVISION 0x{Layouts.Kvm.Vmcs12.Revision:X8}");
        }

        if ((shadowHeader & 0x8000_0000) == 0)
        {
            throw new InvalidNestedStateException(HeaderSize + Vmcs12Size + 3, "data.shadow_vmcs12.hdr.shadow_vmcs", "the shadow vmcs12 must have the shadow-VMCS indicator set");
        }
    }

    /// <summary>svm/nested.c <c>svm_set_nested_state</c>, the checks that read only the blob.</summary>
    private void SvmVerdict(uint size)
    {
        if ((Flags & ~SvmFlags) != 0)
        {
            throw new InvalidNestedStateException(0, "flags", $"flags 0x{(ushort)Flags:X4} has bits the SVM format does not take (0x{(ushort)(Flags & ~SvmFlags):X4})");
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
            throw new InvalidNestedStateException(4, "size", $"in guest mode the SVM state needs its {SvmVmcbSize}-byte vmcb12 (at least {HeaderSize + SvmVmcbSize} bytes); size is {size}");
        }

        Readable(HeaderSize, SvmVmcbSize, "data.svm.vmcb12");
    }

    /// <summary>KVM copies these bytes from the caller: a blob that ends before them would fault (EFAULT).</summary>
    private void Readable(int offset, int count, string field)
    {
        if (_bytes.Length < offset + count)
        {
            throw new InvalidNestedStateException(_bytes.Length, field, $"the size field promises {offset + count} bytes and KVM reads them, but the blob ends at {_bytes.Length} (EFAULT)");
        }
    }

    private Vmcs12 ReadImage(int offset)
    {
        var image = default(Vmcs12);
        var available = Math.Clamp(_bytes.Length - offset, 0, Vmcs12Size);
        _bytes.AsSpan(offset, available).CopyTo(Layouts.Kvm.Vmcs12.AsBytes(ref image));
        return image;
    }

    private void Resize(int size)
    {
        if (_bytes.Length != size)
        {
            var bytes = new byte[size];
            _bytes.AsSpan(0, Math.Min(size, _bytes.Length)).CopyTo(bytes);
            _bytes = bytes;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(4), (uint)size);
    }
}
