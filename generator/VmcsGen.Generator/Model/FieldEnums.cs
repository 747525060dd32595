namespace VmcsGen.Generator.Model;

/// <summary>How a field moves between vmcs12, the shadow VMCS and vmcs02 (MANIFEST.md class table).</summary>
internal enum FieldClass
{
    ShadowRw,
    ShadowRo,
    Sync,
    RareSync,
    NoSync,
}

/// <summary>Encoding bits 14:13.</summary>
internal enum FieldWidth
{
    Bits16 = 0,
    Bits64 = 1,
    Bits32 = 2,
    Natural = 3,
}

/// <summary>Encoding bits 11:10.</summary>
internal enum FieldType
{
    Control = 0,
    ExitInformation = 1,
    GuestState = 2,
    HostState = 3,
}

internal static class FieldEncoding
{
    public const uint ReservedMask = 0xFFFF_9000u; // bits above 14, and bit 12

    public static FieldWidth Width(uint encoding) => (FieldWidth)((encoding >> 13) & 3);

    public static FieldType Type(uint encoding) => (FieldType)((encoding >> 10) & 3);

    /// <summary>Bytes the field takes in vmcs12: natural width is stored as 8 bytes.</summary>
    public static int SizeInBytes(FieldWidth width) => width switch
    {
        FieldWidth.Bits16 => 2,
        FieldWidth.Bits32 => 4,
        _ => 8,
    };

    public static string Describe(FieldWidth width) => width switch
    {
        FieldWidth.Bits16 => "16-bit",
        FieldWidth.Bits32 => "32-bit",
        FieldWidth.Bits64 => "64-bit",
        _ => "natural-width",
    };

    public static string Describe(FieldType type) => type switch
    {
        FieldType.Control => "control",
        FieldType.ExitInformation => "exit-information",
        FieldType.GuestState => "guest-state",
        _ => "host-state",
    };

    public static string Keyword(FieldClass @class) => @class switch
    {
        FieldClass.ShadowRw => "shadow-rw",
        FieldClass.ShadowRo => "shadow-ro",
        FieldClass.Sync => "sync",
        FieldClass.RareSync => "rare-sync",
        _ => "no-sync",
    };
}
