using Microsoft.CodeAnalysis;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Diagnostics;

/// <summary>A diagnostic as it travels through the pipeline: descriptor, location and string arguments only.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments)
    {
        var strings = new string[arguments.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            strings[i] = Printable(System.Convert.ToString(arguments[i], System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty);
        }

        return new DiagnosticInfo(descriptor, location, strings.ToEquatableArray());
    }

    /// <summary>Longest argument shown in a message; a longer one (a 100 KB token, binary input) is cut with "...".</summary>
    public const int MaxArgumentLength = 160;

    /// <summary>
    /// An argument as a message can show it: control and invisible characters written as U+XXXX (a no-break space in a
    /// manifest shows as U+00A0, not as a blank), and cut to <see cref="MaxArgumentLength"/> characters.
    /// </summary>
    public static string Printable(string text)
    {
        var builder = new System.Text.StringBuilder(System.Math.Min(text.Length, MaxArgumentLength + 8));
        foreach (var c in text)
        {
            if (builder.Length >= MaxArgumentLength)
            {
                builder.Append("...");
                break;
            }

            var category = char.GetUnicodeCategory(c);
            var invisible = char.IsControl(c) || (char.IsWhiteSpace(c) && c != ' ')
                || category is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.Surrogate
                    or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.OtherNotAssigned;
            if (invisible)
            {
                builder.Append("U+").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    public bool IsError => Descriptor.DefaultSeverity == DiagnosticSeverity.Error;

    public Diagnostic ToDiagnostic()
    {
        var args = new object[Arguments.Length];
        for (var i = 0; i < args.Length; i++)
        {
            args[i] = Arguments[i];
        }

        return Diagnostic.Create(Descriptor, Location?.ToLocation(), args);
    }
}
