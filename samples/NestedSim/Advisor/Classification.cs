using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>
/// One field of a classification: what the manifest fixes (name, encoding, width, type, feature) and what the advisor may
/// change (class, control shadow, dirty group).
/// </summary>
/// <param name="Group">The dirty group's manifest name; null = the default group (and for shadow-rw fields, none).</param>
public sealed record FieldChoice(
    string Name, uint Encoding, FieldWidth Width, FieldType Type, FieldClass Class, bool ControlShadow, string? Group, string? Feature)
{
    public bool IsEntryField => Type is FieldType.Control or FieldType.GuestState;

    public bool IsShadowed => FieldRules.IsShadowed(Class);

    /// <summary>The class and options as the manifest writes them (<c>shadow-rw control-shadow</c>).</summary>
    public string Describe() => ManifestText.Class(Class) + (ControlShadow ? " control-shadow" : string.Empty) + (Group is null || Class == FieldClass.ShadowRw
        ? string.Empty : $" group={Group}");
}

/// <summary>A manifest's classification: every field in encoding order, with the manifest-wide <c>vmwrite-any</c>.</summary>
public sealed class Classification
{
    private readonly Dictionary<uint, int> _index;

    public Classification(string manifest, bool vmwriteAny, IReadOnlyList<FieldChoice> fields)
        : this(manifest, vmwriteAny, fields.ToArray(), new Dictionary<uint, int>())
    {
        for (var i = 0; i < Fields.Length; i++)
        {
            _index[Fields[i].Encoding] = i;
            if (Fields[i].Width == FieldWidth.Bits64)
            {
                _index[Fields[i].Encoding | 1] = i;
            }
        }
    }

    /// <summary>A classification of the same fields: the encoding index is shared (the search makes thousands of these).</summary>
    private Classification(string manifest, bool vmwriteAny, FieldChoice[] fields, Dictionary<uint, int> index)
    {
        Manifest = manifest;
        VmwriteAny = vmwriteAny;
        Fields = fields;
        _index = index;
    }

    public string Manifest { get; }

    public bool VmwriteAny { get; }

    public FieldChoice[] Fields { get; }

    /// <summary>The field an access form (full or _HIGH) belongs to, or -1 when the layout has no such field.</summary>
    public int IndexOf(uint encoding) => _index.TryGetValue(encoding, out var i) ? i : -1;

    public int IndexOf(string name) => Array.FindIndex(Fields, f => f.Name == name);

    /// <summary>The same classification with one field's choice replaced (its name, encoding, width and type stay).</summary>
    public Classification With(int index, FieldChoice choice)
    {
        if (choice.Encoding != Fields[index].Encoding || choice.Width != Fields[index].Width)
        {
            throw new ArgumentException($"{choice.Name} is not the field at index {index} ({Fields[index].Name})", nameof(choice));
        }

        var fields = (FieldChoice[])Fields.Clone();
        fields[index] = choice;
        return new Classification(Manifest, VmwriteAny, fields, _index);
    }

    /// <summary>
    /// The classification a compiled layout was generated with. Group names come from its manifest text (a field without
    /// <c>group=</c> is in the default group, null); without the text each group is named after its bit.
    /// </summary>
    public static Classification Of(LayoutHandle layout, IReadOnlyDictionary<string, string>? groupNames = null) =>
        new(layout.ManifestFile, layout.VmwriteAny, layout.Fields
            .Where(f => !f.IsHigh)
            .OrderBy(f => f.Encoding)
            .Select(f => new FieldChoice(
                f.Name, f.Encoding, f.Width, f.Type, f.Class, f.ControlShadow,
                f.Class == FieldClass.ShadowRw ? null : groupNames is null ? $"group-bit{BitOperations.Log2(f.GroupMask)}"
                    : groupNames.GetValueOrDefault(f.Name), f.Feature))
            .ToList());
}
