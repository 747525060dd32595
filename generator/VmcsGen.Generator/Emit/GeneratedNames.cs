using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// The names generated members own, next to the fields' own names: the one place both the binder (VMCS0122, the
/// control-shadow prefix rule) and the emitters that write those members read them, so semantics never reads an emitter.
/// </summary>
internal static class GeneratedNames
{
    /// <summary>Members of the generated Vmcs12 besides the fields (Vmcs12Emitter writes them; keep in step).</summary>
    public static readonly string[] Vmcs12OwnMembers = ["Revision", "Size", "HeaderSize", "AbortIndicator", "LaunchState", "RevisionId", "ShadowIndicator",
        "Create", "AsBytes", "Offsets"];

    /// <summary>The generated ControlShadows' constant: how many fields have a software shadow.</summary>
    public const string ControlShadowsCount = "Count";

    /// <summary>The generated ControlShadows' counter of the VMWRITEs its setters issued.</summary>
    public const string ControlShadowsWrites = "Writes";

    /// <summary>Members of the generated ControlShadows besides the per-field ones.</summary>
    public static readonly string[] ControlShadowsOwnMembers = [ControlShadowsCount, ControlShadowsWrites];

    /// <summary>Prefixes of the members ControlShadows generates per control-shadow field: Set{Field}, SetBits{Field}, ClearBits{Field}.</summary>
    public const string ControlShadowSet = "Set", ControlShadowSetBits = "SetBits", ControlShadowClearBits = "ClearBits";

    /// <summary>Prefixes of the members ControlShadows generates per control-shadow field.</summary>
    public static readonly string[] ControlShadowPrefixes = [ControlShadowSet, ControlShadowSetBits, ControlShadowClearBits];

    /// <summary>Members every C# type inherits from <see cref="object"/>: a field property with one of these names would hide it.</summary>
    private static readonly string[] ObjectMembers = ["Equals", "GetHashCode", "ToString", "GetType", "MemberwiseClone", "Finalize", "ReferenceEquals"];

    /// <summary>The generated types whose members are named after fields, with their own members (and their own name: CS0542).</summary>
    private static readonly (string Owner, string[] Members)[] Containers =
    [
        ("the generated Vmcs12", [.. Vmcs12OwnMembers, "Vmcs12"]),
        ("the generated Vmcs12.Offsets", ["Offsets"]),
        ("the generated ControlShadows", [.. ControlShadowsOwnMembers, "ControlShadows"]),
    ];

    private static readonly Dictionary<string, string> Owners = BuildOwners();

    /// <summary>Which generated type already has a member named <paramref name="cSharpName"/>, or null.</summary>
    public static string? OwnerOf(string cSharpName) => Owners.TryGetValue(cSharpName, out var owner) ? owner : null;

    private static Dictionary<string, string> BuildOwners()
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (owner, members) in Containers)
        {
            foreach (var member in members.Concat(ObjectMembers))
            {
                if (!owners.ContainsKey(member))
                {
                    owners.Add(member, owner);
                }
            }
        }

        return owners;
    }
}
