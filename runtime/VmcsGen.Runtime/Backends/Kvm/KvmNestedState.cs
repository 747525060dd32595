using System;
using System.Buffers.Binary;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Backends.Kvm;

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
public sealed partial class KvmNestedState
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
