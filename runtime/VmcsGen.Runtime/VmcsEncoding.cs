// One source of VMX encoding facts: compiled into the runtime (public, namespace VmcsGen) and, as a linked file, into the
// generator (internal, namespace VmcsGen.Generator), dotnet/runtime's Common/src pattern.
#if VMCSGEN_GENERATOR
namespace VmcsGen.Generator;
#else
namespace VmcsGen;
#endif

/// <summary>Encoding bits 14:13: the width of a VMCS field.</summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
enum FieldWidth : byte
{
    Bits16 = 0,
    Bits64 = 1,
    Bits32 = 2,

    /// <summary>64 bits on a 64-bit host; stored as 8 bytes in vmcs12.</summary>
    Natural = 3,
}

/// <summary>Encoding bits 11:10: what the field holds.</summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
enum FieldType : byte
{
    Control = 0,

    /// <summary>VM-exit information: read-only unless the CPU allows VMWRITE to any field (IA32_VMX_MISC bit 29).</summary>
    ExitInformation = 1,
    GuestState = 2,
    HostState = 3,
}

/// <summary>How a field moves between vmcs12, the shadow VMCS and vmcs02 (docs/MANIFEST.md).</summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
enum FieldClass : byte
{
    ShadowRw = 0,
    ShadowRo = 1,
    Sync = 2,
    RareSync = 3,
    NoSync = 4,
}

/// <summary>Decodes a VMCS field encoding (SDM Vol. 3D Appendix B). Works for any encoding; validity is separate.</summary>
#if VMCSGEN_GENERATOR
internal
#else
public
#endif
static class VmcsEncoding
{
    /// <summary>Bits that no valid encoding sets: bits 31:15 and bit 12.</summary>
    public const uint ReservedMask = 0xFFFF_9000u;

    /// <summary>VM_INSTRUCTION_ERROR: where a VMfailValid stores its number (SDM Vol. 3C §31.4).</summary>
    public const uint VmInstructionError = 0x4400;

    /// <summary>VM_EXIT_REASON and EXIT_QUALIFICATION: what a VM exit (or a VM-entry failure) reports.</summary>
    public const uint ExitReason = 0x4402, ExitQualification = 0x6400;

    /// <summary>VMCS_LINK_POINTER: guest state by encoding, but no VM exit writes it.</summary>
    public const uint VmcsLinkPointer = 0x2800;

    /// <summary>The access-rights bits KVM keeps on a VMWRITE of a segment AR field (vmcs12_write_any; bits 16, 15:12, 7:0).</summary>
    public const uint SegmentAccessRightsMask = 0x1F0FF;

    /// <summary>GUEST_ES_AR_BYTES … GUEST_TR_AR_BYTES (0x4814–0x4822, even).</summary>
    public static bool IsSegmentAccessRights(uint encoding) => encoding is >= 0x4814 and <= 0x4822 && (encoding & 1) == 0;

    /// <summary>True for the 32-bit access form of bits 63:32 of a 64-bit field (bit 0 set).</summary>
    public static bool IsHighAccess(uint encoding) => (encoding & 1) != 0;

    public static FieldWidth Width(uint encoding) => (FieldWidth)((encoding >> 13) & 3);

    public static FieldType Type(uint encoding) => (FieldType)((encoding >> 10) & 3);

    /// <summary>Bits 9:1.</summary>
    public static uint Index(uint encoding) => (encoding >> 1) & 0x1FF;

    public static bool HasReservedBits(uint encoding) => (encoding & ReservedMask) != 0;

    /// <summary>
    /// Whether the encoding is well formed as an access: no reserved bit, and bit 0 (high access) only on a 64-bit field.
    /// Whether a CPU or a layout supports it is a separate question.
    /// </summary>
    public static bool IsWellFormed(uint encoding) =>
        !HasReservedBits(encoding) && (!IsHighAccess(encoding) || Width(encoding) == FieldWidth.Bits64);

    /// <summary>Bytes the field occupies in vmcs12 (natural width takes 8).</summary>
    public static int SizeInBytes(FieldWidth width) => width switch
    {
        FieldWidth.Bits16 => 2,
        FieldWidth.Bits32 => 4,
        _ => 8,
    };

    /// <summary>The value mask of an access: a _HIGH access moves 32 bits.</summary>
    public static ulong AccessMask(uint encoding)
    {
        if (IsHighAccess(encoding))
        {
            return 0xFFFF_FFFFul;
        }

        return Width(encoding) switch
        {
            FieldWidth.Bits16 => 0xFFFFul,
            FieldWidth.Bits32 => 0xFFFF_FFFFul,
            _ => ulong.MaxValue,
        };
    }

    /// <summary>
    /// The VM-execution, VM-exit and VM-entry control fields proper (pin-based, primary, secondary and tertiary
    /// processor-based, VM-exit, secondary VM-exit, VM-entry controls; full or _HIGH form). Writing one makes the CPU treat
    /// the cached VMCS as dirty, so the next VM entry runs every consistency check; KVM keeps software shadows of them.
    /// </summary>
    public static bool IsMajorControl(uint encoding) =>
        (encoding & ~1u) is 0x4000 or 0x4002 or 0x401E or 0x2034 or 0x400C or 0x2044 or 0x4012;

    /// <summary>ROL16(encoding, 6): KVM's index into its compact vmcs12 offset table.</summary>
    public static int CompactIndex(uint encoding)
    {
        var e = (ushort)encoding;
        return (ushort)((e << 6) | (e >> 10));
    }
}
