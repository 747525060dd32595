using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// The member names the emitters generate next to the fields' own names, collected from each emitter, so a field can be
/// checked against their union (VMCS0122) instead of a hand-kept list.
/// </summary>
internal static class GeneratedNames
{
    /// <summary>Members every C# type inherits from <see cref="object"/>: a field property with one of these names would hide it.</summary>
    private static readonly string[] ObjectMembers = ["Equals", "GetHashCode", "ToString", "GetType", "MemberwiseClone", "Finalize", "ReferenceEquals"];

    /// <summary>The generated types whose members are named after fields, with their own members (and their own name: CS0542).</summary>
    private static readonly (string Owner, string[] Members)[] Containers =
    [
        ("the generated Vmcs12", [.. Vmcs12Emitter.OwnMembers, "Vmcs12"]),
        ("the generated Vmcs12.Offsets", ["Offsets"]),
        ("the generated ControlShadows", [.. SyncEmitter.ControlShadowsOwnMembers, "ControlShadows"]),
    ];

    /// <summary>Prefixes of the members ControlShadows generates per control-shadow field.</summary>
    public static readonly string[] ControlShadowPrefixes = SyncEmitter.ControlShadowPrefixes;

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
