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

    /// <summary>SVM only; rejected in the VMX format.</summary>
    GifSet = 0x100,
}

/// <summary>A blob that is not a valid VMX <c>struct kvm_nested_state</c>: names the byte offset and the rule.</summary>
public sealed class InvalidNestedStateException(int offset, string field, string rule)
    : FormatException($"kvm_nested_state: byte offset {offset} ({field}): {rule}")
{
    public int Offset { get; } = offset;

    public string Field { get; } = field;
}

/// <summary>
/// The VMX nested state of a vCPU, as KVM_GET_NESTED_STATE returns it and KVM_SET_NESTED_STATE takes it: a 128-byte header
/// (flags, format, size, the VMX header) and up to two 4 KiB images, vmcs12 and the shadow vmcs12 of L1's own shadow VMCS,
/// both in KVM's layout (<see cref="Vmcs12"/>, generated from fields/kvm.vmcs). <see cref="Parse"/> and
/// <see cref="Serialize"/> check the same rules; a blob either parses completely or throws
/// <see cref="InvalidNestedStateException"/>, and nothing is ever serialized from an invalid state.
/// </summary>
public sealed class KvmNestedState
{
    public const int HeaderSize = 128;
    public const int Vmcs12Size = 0x1000;
    public const ushort FormatVmx = 0;
    public const ulong InvalidAddress = ulong.MaxValue;
    public const ushort SmmGuestMode = 0x1, SmmVmxon = 0x2;
    public const uint VmxPreemptionTimerDeadline = 0x1;
    private const KvmNestedStateFlags VmxFlags = KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending | KvmNestedStateFlags.Evmcs | KvmNestedStateFlags.MtfPending;

    public KvmNestedStateFlags Flags { get; set; }

    /// <summary>Guest-physical address of L1's VMXON region; <see cref="InvalidAddress"/> when L1 is not in VMX operation.</summary>
    public ulong VmxonPa { get; set; } = InvalidAddress;

    /// <summary>L1's current-VMCS pointer; <see cref="InvalidAddress"/> when none.</summary>
    public ulong Vmcs12Pa { get; set; } = InvalidAddress;

    public ushort SmmFlags { get; set; }

    public uint VmxHeaderFlags { get; set; }

    public ulong PreemptionTimerDeadline { get; set; }

    /// <summary>L1's current vmcs12, present when <see cref="Vmcs12Pa"/> is valid.</summary>
    public Vmcs12? Vmcs12 { get; set; }

    /// <summary>The vmcs12 of the shadow VMCS L1 itself uses for L2 (its VMCS link pointer), when present.</summary>
    public Vmcs12? ShadowVmcs12 { get; set; }

    /// <summary>The byte count of the serialized state: the header and each present image.</summary>
    public int Size => HeaderSize + (Vmcs12 is null ? 0 : Vmcs12Size) + (ShadowVmcs12 is null ? 0 : Vmcs12Size);

    /// <summary>Parses a blob; throws <see cref="InvalidNestedStateException"/> naming the first offending byte offset.</summary>
    public static KvmNestedState Parse(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < HeaderSize)
        {
            throw new InvalidNestedStateException(blob.Length, "header", $"the blob has {blob.Length} bytes; the header alone is {HeaderSize}");
        }

        var flags = (KvmNestedStateFlags)BinaryPrimitives.ReadUInt16LittleEndian(blob);
        var format = BinaryPrimitives.ReadUInt16LittleEndian(blob[2..]);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(blob[4..]);
        if (format != FormatVmx)
        {
            throw new InvalidNestedStateException(2, "format", $"format {format} is not KVM_STATE_NESTED_FORMAT_VMX (0)");
        }

        if (size != blob.Length)
        {
            throw new InvalidNestedStateException(4, "size", $"size {size} does not match the blob's {blob.Length} bytes");
        }

        var state = new KvmNestedState
        {
            Flags = flags,
            VmxonPa = BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]),
            Vmcs12Pa = BinaryPrimitives.ReadUInt64LittleEndian(blob[16..]),
            SmmFlags = BinaryPrimitives.ReadUInt16LittleEndian(blob[24..]),
            VmxHeaderFlags = BinaryPrimitives.ReadUInt32LittleEndian(blob[28..]),
            PreemptionTimerDeadline = BinaryPrimitives.ReadUInt64LittleEndian(blob[32..]),
        };

        if (BinaryPrimitives.ReadUInt16LittleEndian(blob[26..]) != 0)
        {
            throw new InvalidNestedStateException(26, "vmx.pad", "reserved, must be zero");
        }

        if (blob[40..HeaderSize].IndexOfAnyExcept((byte)0) is var nonZero and >= 0)
        {
            throw new InvalidNestedStateException(40 + nonZero, "hdr padding", "reserved bytes after the VMX header must be zero");
        }

        var images = (blob.Length - HeaderSize) / Vmcs12Size;
        if ((blob.Length - HeaderSize) % Vmcs12Size != 0 || images > 2)
        {
            throw new InvalidNestedStateException(4, "size", $"after the {HeaderSize}-byte header come 0, 1 or 2 images of {Vmcs12Size} bytes; {blob.Length - HeaderSize} bytes do not fit that");
        }

        if (images >= 1)
        {
            state.Vmcs12 = ReadImage(blob.Slice(HeaderSize, Vmcs12Size));
        }

        if (images == 2)
        {
            state.ShadowVmcs12 = ReadImage(blob.Slice(HeaderSize + Vmcs12Size, Vmcs12Size));
        }

        state.Validate();
        return state;
    }

    /// <summary>The blob KVM_SET_NESTED_STATE takes. Validates first: an invalid state throws and produces nothing.</summary>
    public byte[] Serialize()
    {
        Validate();
        var blob = new byte[Size];
        var span = blob.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], FormatVmx);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)Size);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], VmxonPa);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], Vmcs12Pa);
        BinaryPrimitives.WriteUInt16LittleEndian(span[24..], SmmFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(span[28..], VmxHeaderFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], PreemptionTimerDeadline);
        if (Vmcs12 is { } vmcs12)
        {
            Layouts.Kvm.Vmcs12.AsBytes(ref vmcs12).CopyTo(span[HeaderSize..]);
        }

        if (ShadowVmcs12 is { } shadow)
        {
            Layouts.Kvm.Vmcs12.AsBytes(ref shadow).CopyTo(span[(HeaderSize + Vmcs12Size)..]);
        }

        return blob;
    }

    /// <summary>The rules KVM_SET_NESTED_STATE enforces for the VMX format, each naming its byte offset.</summary>
    public void Validate()
    {
        if ((Flags & ~VmxFlags) != 0)
        {
            throw new InvalidNestedStateException(0, "flags", $"flags 0x{(ushort)Flags:X4} has bits the VMX format does not define (0x{(ushort)(Flags & ~VmxFlags):X4})");
        }

        if ((Flags & KvmNestedStateFlags.RunPending) != 0 && (Flags & KvmNestedStateFlags.GuestMode) == 0)
        {
            throw new InvalidNestedStateException(0, "flags", "KVM_STATE_NESTED_RUN_PENDING needs KVM_STATE_NESTED_GUEST_MODE");
        }

        if ((SmmFlags & ~(SmmGuestMode | SmmVmxon)) != 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", $"flags 0x{SmmFlags:X4} has undefined bits");
        }

        if ((SmmFlags & SmmGuestMode) != 0 && (SmmFlags & SmmVmxon) == 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", "SMM guest mode needs SMM VMXON");
        }

        if ((SmmFlags & SmmGuestMode) != 0 && (Flags & KvmNestedStateFlags.GuestMode) != 0)
        {
            throw new InvalidNestedStateException(24, "vmx.smm.flags", "L2 cannot be in guest mode while SMM guest mode is set");
        }

        if ((VmxHeaderFlags & ~VmxPreemptionTimerDeadline) != 0)
        {
            throw new InvalidNestedStateException(28, "vmx.flags", $"flags 0x{VmxHeaderFlags:X8} has undefined bits");
        }

        if (VmxonPa == InvalidAddress)
        {
            if (Flags != KvmNestedStateFlags.None || SmmFlags != 0 || Vmcs12Pa != InvalidAddress || Vmcs12 is not null || ShadowVmcs12 is not null)
            {
                throw new InvalidNestedStateException(8, "vmx.vmxon_pa", "outside VMX operation (vmxon_pa = -1) the state has no flags, no vmcs12 pointer and no images");
            }

            return;
        }

        if ((VmxonPa & 0xFFF) != 0)
        {
            throw new InvalidNestedStateException(8, "vmx.vmxon_pa", $"0x{VmxonPa:X} is not 4 KiB aligned");
        }

        if (Vmcs12Pa != InvalidAddress && (Vmcs12Pa & 0xFFF) != 0)
        {
            throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", $"0x{Vmcs12Pa:X} is not 4 KiB aligned");
        }

        if (Vmcs12Pa == VmxonPa)
        {
            throw new InvalidNestedStateException(16, "vmx.vmcs12_pa", "the vmcs12 pointer equals the VMXON pointer");
        }

        var evmcs = (Flags & KvmNestedStateFlags.Evmcs) != 0;
        if (Vmcs12Pa == InvalidAddress && !evmcs)
        {
            if (Vmcs12 is not null || ShadowVmcs12 is not null)
            {
                throw new InvalidNestedStateException(HeaderSize, "data.vmcs12", "there is no current vmcs12 (vmcs12_pa = -1), so no image may follow");
            }

            if ((Flags & KvmNestedStateFlags.GuestMode) != 0)
            {
                throw new InvalidNestedStateException(0, "flags", "guest mode needs a current vmcs12");
            }

            return;
        }

        if (Vmcs12 is not { } vmcs12)
        {
            throw new InvalidNestedStateException(4, "size", $"a current vmcs12 (vmcs12_pa 0x{Vmcs12Pa:X}) needs its {Vmcs12Size}-byte image after the header");
        }

        CheckImage(vmcs12, HeaderSize, "data.vmcs12", shadow: false);
        if (ShadowVmcs12 is { } shadowVmcs12)
        {
            CheckImage(shadowVmcs12, HeaderSize + Vmcs12Size, "data.shadow_vmcs12", shadow: true);
        }
    }

    private static void CheckImage(Vmcs12 image, int offset, string field, bool shadow)
    {
        if (image.RevisionId != Layouts.Kvm.Vmcs12.Revision)
        {
            throw new InvalidNestedStateException(offset, field, $"revision 0x{image.RevisionId:X8} is not VMCS12_REVISION 0x{Layouts.Kvm.Vmcs12.Revision:X8}");
        }

        if (image.ShadowIndicator != shadow)
        {
            throw new InvalidNestedStateException(offset, field, shadow ? "the shadow vmcs12 must have the shadow-VMCS indicator set" : "vmcs12 must not have the shadow-VMCS indicator set");
        }

        if (image.LaunchState > 1)
        {
            throw new InvalidNestedStateException(offset + 8, field + ".launch_state", $"launch state {image.LaunchState} is neither 0 (clear) nor 1 (launched)");
        }
    }

    private static Vmcs12 ReadImage(ReadOnlySpan<byte> bytes)
    {
        var image = default(Vmcs12);
        bytes.CopyTo(Layouts.Kvm.Vmcs12.AsBytes(ref image));
        return image;
    }
}
