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
            strings[i] = System.Convert.ToString(arguments[i], System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
        }

        return new DiagnosticInfo(descriptor, location, strings.ToEquatableArray());
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
