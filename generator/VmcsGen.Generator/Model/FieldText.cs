namespace VmcsGen.Generator.Model;

/// <summary>
/// Words for the encoding facts in diagnostics and generated comments. The facts themselves (<see cref="FieldWidth"/>,
/// <see cref="FieldType"/>, <see cref="FieldClass"/>, <see cref="VmcsEncoding"/>) come from the runtime's VmcsEncoding.cs,
/// linked into this assembly.
/// </summary>
internal static class FieldText
{
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
