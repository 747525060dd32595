using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Emit;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>
/// The field lines: name, encoding, class and options, and the class rules of MANIFEST.md per field type. The rules
/// themselves (default class, which classes a field may take, the limits) are <see cref="FieldRules"/>, shared with the
/// runtime's engine and NestedSim's advisor; this file reports what they find as diagnostics at the right token.
/// </summary>
internal static partial class ManifestBinder
{
    private static BoundFields? BindFields(ManifestSyntax syntax, Header header, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        var byEncoding = new Dictionary<uint, FieldSyntax>();
        var byName = new Dictionary<string, FieldSyntax>(StringComparer.Ordinal);
        var byCSharpName = new Dictionary<string, FieldSyntax>(StringComparer.Ordinal);
        var pending = new List<PendingField>();
        var errors = diagnostics.Count(d => d.IsError);

        foreach (var field in syntax.Fields)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = field.Name.Text;
            var encoding = field.Encoding;
            if ((encoding & VmcsEncoding.ReservedMask) != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.ReservedEncodingBits, field.EncodingToken.Location, name, Hex(encoding),
                        "0x" + Hex(encoding & VmcsEncoding.ReservedMask)));
                continue;
            }

            if ((encoding & 1) != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HighFormListed, field.EncodingToken.Location, name, Hex(encoding),
                    Hex(encoding & ~1u)));
                continue;
            }

            if (name.Length > MaxNameLength)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NameTooLong, field.Name.Location, Shorten(name),
                    name.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    MaxNameLength.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                continue;
            }

            var cSharpName = ToPascalCase(name);
            if (byName.ContainsKey(name))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateName, field.Name.Location, name, cSharpName));
                continue;
            }

            if (KnownFields.Encodings.TryGetValue(name, out var known) && known != encoding)
            {
                var token = field.EncodingToken.Text;
                var hint = token.Length > 0 && token.All(char.IsDigit) && uint.TryParse(token, System.Globalization.NumberStyles.HexNumber,
                    System.Globalization.CultureInfo.InvariantCulture, out var asHex) && asHex == known
                    ? $" (the number {token} is decimal: write 0x{token})"
                    : string.Empty;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.KnownNameOtherEncoding, field.EncodingToken.Location, name, Hex(encoding),
                    Hex(known), hint));
                continue;
            }

            if (byEncoding.TryGetValue(encoding, out var other))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateEncoding, field.EncodingToken.Location, name, Hex(encoding),
                    other.Name.Text));
                continue;
            }

            if (byCSharpName.TryGetValue(cSharpName, out var clash))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.CSharpNameCollision, field.Name.Location, name, clash.Name.Text, cSharpName));
                continue;
            }

            if (GeneratedNames.OwnerOf(cSharpName) is { } owner)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GeneratedMemberCollision, field.Name.Location, name, cSharpName, owner));
                continue;
            }

            byName.Add(name, field);
            byEncoding.Add(encoding, field);
            byCSharpName.Add(cSharpName, field);

            var type = VmcsEncoding.Type(encoding);
            var width = VmcsEncoding.Width(encoding);
            var @class = field.Class ?? FieldRules.DefaultClass(type);
            CheckClassRules(field, @class, type, width, header, diagnostics);
            pending.Add(new PendingField(field, cSharpName, @class));
        }

        CheckDerivedNames(pending, diagnostics);
        var explicitOffsets = BindOffsets(pending, header, diagnostics);
        var features = BindFeatures(pending, header, diagnostics);
        var groups = BindGroups(pending, diagnostics);
        CheckShadowCount(pending, diagnostics);

        if (diagnostics.Count(d => d.IsError) != errors)
        {
            return null;
        }

        var specs = pending
            .Select(p => new FieldSpec(
                p.Syntax.Name.Text,
                p.CSharpName,
                p.Encoding,
                p.Width,
                p.Type,
                p.Offset,
                p.Class,
                p.Syntax.ControlShadowToken is not null,
                p.Syntax.Feature,
                p.Syntax.Feature is null ? -1 : features.First(f => f.Name == p.Syntax.Feature).Bit,
                FieldRules.HasDirtyGroup(p.Class) ? groups.First(g => g.Name == (p.Syntax.Group ?? DefaultGroupName)).Bit : -1))
            .OrderBy(f => f.Encoding)
            .ThenBy(f => f.Name, StringComparer.Ordinal)
            .ToEquatableArray();
        return new BoundFields(specs, features.ToEquatableArray(), groups.ToEquatableArray(), explicitOffsets);
    }

    private static void CheckClassRules(FieldSyntax field, FieldClass @class, FieldType type, FieldWidth width, Header header, List<DiagnosticInfo> diagnostics)
    {
        var name = field.Name.Text;
        var classLocation = field.ClassToken?.Location ?? field.Name.Location;
        var broken = FieldRules.CheckClass(field.Encoding, @class, header.VmwriteAny);
        if ((broken & FieldRules.Violations.RareSyncNotGuestState) != 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RareSyncNotGuestState, classLocation, name, FieldText.Describe(type)));
        }

        if ((broken & FieldRules.Violations.ShadowRwExitInformation) != 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowRwExitInfo, classLocation, name));
        }

        if (!FieldRules.HasDirtyGroup(@class) && field.GroupToken is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GroupOnShadowRw, field.GroupToken.Location, name));
        }

        if ((broken & FieldRules.Violations.ShadowedInstructionError) != 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowedInstructionError, classLocation, name));
        }

        if ((broken & FieldRules.Violations.ShadowRwAccessRights) != 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShadowRwArBytes, classLocation, name));
        }

        // The CPU's side (CpuExitTables.cs, shared with the runtime): a field an exit saves must come back from vmcs02
        // unless L0 keeps it current itself (KVM's WRMSR write-through, its PML emulation).
        if (@class == FieldClass.NoSync && CpuExitWrites.TryGet(field.Encoding, out var saved) && !L0KeptFields.KeepsCurrent(field.Encoding))
        {
            var condition = saved.Condition == ExitSaveCondition.Always ? string.Empty : ", when vmcs12's VM-exit control " +
                $"{ConditionText(saved.Condition)} is 1";
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsoundNoSync, classLocation, name, saved.Sdm, condition));
        }

        if (field.ControlShadowToken is { } controlShadow)
        {
            var shadowRule = FieldRules.CheckControlShadow(type, width);
            if (shadowRule == FieldRules.Violations.ControlShadowNotControl)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ControlShadowNotControl, controlShadow.Location, name, FieldText.Describe(type)));
            }
            else if (shadowRule == FieldRules.Violations.ControlShadowWidth)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ControlShadowWidth, controlShadow.Location, name, FieldText.Describe(width)));
            }
        }
    }

    private static string ConditionText(ExitSaveCondition condition) => condition switch
    {
        ExitSaveCondition.SaveDebugControls => "'save debug controls'",
        ExitSaveCondition.SaveIa32Pat => "'save IA32_PAT'",
        ExitSaveCondition.SaveIa32Efer => "'save IA32_EFER'",
        ExitSaveCondition.SavePreemptionTimer => "'save VMX-preemption timer value'",
        _ => "'save IA32_PERF_GLOBAL_CTRL'",
    };

    private static void CheckShadowCount(List<PendingField> fields, List<DiagnosticInfo> diagnostics)
    {
        var shadowed = fields.Where(f => FieldRules.IsShadowed(f.Class)).ToList();
        if (shadowed.Count > FieldRules.MaxShadowed)
        {
            var first = shadowed[FieldRules.MaxShadowed].Syntax;
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TooManyShadowed, (first.ClassToken ?? first.Name).Location, shadowed.Count));
        }
    }
}
