using System.Collections.Generic;
using System.Linq;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>
/// Emits the nested exit and entry sides: <c>ExitSync</c> (vmcs02 → vmcs12, every exit and the lazy rare set),
/// <c>EntryPrepare</c> (vmcs12 → vmcs02 by dirty group), <c>DirtyGroups</c> and <c>ControlShadows</c>. The class of each
/// field decides which of these code paths mention it; nothing checks a class at run time.
/// </summary>
internal static class SyncEmitter
{
    /// <summary>Members of the generated ControlShadows besides the per-field ones (keep in step with EmitControlShadows).</summary>
    public static readonly string[] ControlShadowsOwnMembers = ["Count", "Writes"];

    /// <summary>Prefixes of the members ControlShadows generates per field.</summary>
    public static readonly string[] ControlShadowPrefixes = ["Set", "SetBits", "ClearBits"];

    private const string VmxResult = GeneratedHeader.VmxResult;

    public static void EmitExitSync(SourceWriter writer, VmcsManifest manifest)
    {
        var every = manifest.EveryExitSync.ToList();
        var rare = manifest.RareSync.ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The nested VM-exit side of the {manifest.LayoutName} layout: {every.Count} fields copied from vmcs02 to vmcs12 on every exit,");
        writer.WriteLine($"/// {rare.Count} rare fields copied only when somebody needs them, and the rare-set-stale flag.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public struct ExitSync"))
        {
            writer.WriteLine($"public const int EveryExitCount = {every.Count};");
            writer.WriteLine($"public const int RareCount = {rare.Count};");
            writer.WriteLine();
            writer.WriteLine("/// <summary>True when vmcs12's rare fields may be older than vmcs02's (set on every nested exit).</summary>");
            writer.WriteLine("public bool RareStale { readonly get; private set; }");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Called on every nested VM-exit instead of copying the rare set.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            writer.WriteLine("public void MarkRareStale() => RareStale = true;");
            writer.WriteLine();
            writer.WriteLine("/// <summary>");
            writer.WriteLine("/// Copies the rare set from vmcs02 (current on <paramref name=\"vmcs02\"/>) if it is stale, and clears the flag;");
            writer.WriteLine("/// does nothing when it is not. Call it before anything reads or overwrites a rare field of vmcs12.");
            writer.WriteLine("/// </summary>");
            writer.WriteLine($"public {VmxResult} EnsureRareSynced<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, Features available)");
            using (writer.Block(ShadowFieldsEmitter.Constraint))
            {
                writer.WriteLine("if (!RareStale)");
                writer.WriteLine("{");
                writer.WriteLine($"    return {VmxResult}.Succeed;");
                writer.WriteLine("}");
                writer.WriteLine();
                writer.WriteLine("RareStale = false;");
                writer.WriteLine("return SyncVmcs02ToVmcs12Rare(ref vmcs02, ref vmcs12, available);");
            }

            writer.WriteLine();
            EmitCopy(writer, "SyncVmcs02ToVmcs12", "Copies the every-exit set from vmcs02 (current on <paramref name=\"vmcs02\"/>) into vmcs12: one VMREAD per field.", every);
            writer.WriteLine();
            EmitCopy(writer, "SyncVmcs02ToVmcs12Rare", "Copies the rare set from vmcs02 (current on <paramref name=\"vmcs02\"/>) into vmcs12: one VMREAD per field.", rare);
        }
    }

    private static void EmitCopy(SourceWriter writer, string name, string summary, List<FieldSpec> fields)
    {
        writer.WriteLine($"/// <summary>{summary}</summary>");
        writer.WriteLine($"public static {VmxResult} {name}<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, Features available)");
        using (writer.Block(ShadowFieldsEmitter.Constraint))
        {
            FeatureGate.EmitReadsIntoVmcs12(writer, "vmcs02", fields);
        }
    }

    public static void EmitDirtyGroups(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>Dirty-tracking groups of the entry side: a trapped VMWRITE marks its field's group; nested entry rewrites the marked groups.</summary>");
        writer.WriteLine("[global::System.Flags]");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public enum DirtyGroups : uint"))
        {
            writer.WriteLine("None = 0,");
            uint all = 0;
            foreach (var group in manifest.Groups)
            {
                var count = manifest.Fields.Count(f => f.GroupIndex == group.Bit);
                writer.WriteLine($"/// <summary>Group <c>{group.Name}</c>: {count} fields.</summary>");
                writer.WriteLine($"{group.CSharpName} = 1U << {group.Bit},");
                all |= 1u << group.Bit;
            }

            writer.WriteLine("/// <summary>Every group: what VMPTRLD of a new vmcs12 and a restored nested state need.</summary>");
            writer.WriteLine("All = 0x" + all.ToString("X", System.Globalization.CultureInfo.InvariantCulture) + "U,");
        }

        writer.WriteLine();
        writer.WriteLine("/// <summary>Which group a field dirties; shadow-rw fields dirty none (they are rewritten on every entry).</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class Dirty"))
        {
            writer.WriteLine("/// <summary>Marks the field's group; with a constant field the JIT folds this to one OR.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            writer.WriteLine("public static void MarkDirty(this ref DirtyGroups dirty, VmcsField field) => dirty |= GroupOf((uint)field);");
            writer.WriteLine();
            writer.WriteLine("/// <summary>The group of an encoding (full or _HIGH form); None for shadow-rw fields and unknown encodings.</summary>");
            writer.WriteLine(GeneratedHeader.MethodImpl);
            using (writer.Block("public static DirtyGroups GroupOf(uint encoding)"))
            {
                writer.WriteLine("switch (encoding & ~1U)");
                writer.WriteLine("{");
                writer.Indent();
                foreach (var group in manifest.Groups)
                {
                    var members = manifest.Fields.Where(f => f.GroupIndex == group.Bit).ToList();
                    foreach (var field in members)
                    {
                        writer.WriteLine($"case {GeneratedHeader.Hex(field.Encoding)}:");
                    }

                    if (members.Count > 0)
                    {
                        writer.WriteLine($"    return DirtyGroups.{group.CSharpName};");
                    }
                }

                writer.WriteLine("default:");
                writer.WriteLine("    return DirtyGroups.None;");
                writer.Unindent();
                writer.WriteLine("}");
            }
        }
    }

    public static void EmitEntryPrepare(SourceWriter writer, VmcsManifest manifest)
    {
        var entry = manifest.EntryFields.ToList();
        var always = entry.Where(f => f.Class == FieldClass.ShadowRw).ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// The nested VM-entry side of the {manifest.LayoutName} layout: vmcs12 → vmcs02. {always.Count} shadow-rw fields are written on");
        writer.WriteLine("/// every entry (L0 never sees L1 write them); the other control and guest-state fields only when their group is dirty.");
        writer.WriteLine("/// Control fields with a software shadow go through <see cref=\"ControlShadows\"/>, so an unchanged control costs no VMWRITE.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class EntryPrepare"))
        {
            writer.WriteLine($"public const int EveryEntryCount = {always.Count};");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Writes vmcs12 into vmcs02 (current on <paramref name=\"vmcs02\"/>) for one nested entry. Returns the first failure.</summary>");
            writer.WriteLine($"public static {VmxResult} PrepareVmcs02<TVmcs>(ref TVmcs vmcs02, ref Vmcs12 vmcs12, DirtyGroups dirty, Features available, ref ControlShadows controls)");
            using (writer.Block(ShadowFieldsEmitter.Constraint))
            {
                writer.WriteLine($"var result = {VmxResult}.Succeed;");
                FeatureGate.EmitRuns(writer, always, field => EmitEntryWrite(writer, field));
                foreach (var group in manifest.Groups)
                {
                    var members = entry.Where(f => f.GroupIndex == group.Bit).ToList();
                    if (members.Count == 0)
                    {
                        continue;
                    }

                    using (writer.Block($"if ((dirty & DirtyGroups.{group.CSharpName}) != 0)"))
                    {
                        FeatureGate.EmitRuns(writer, members, field => EmitEntryWrite(writer, field));
                    }
                }

                writer.WriteLine("return result;");
            }
        }
    }

    private static void EmitEntryWrite(SourceWriter writer, FieldSpec field)
    {
        writer.WriteLine(field.ControlShadow
            ? $"result = result.Then(controls.Set{field.CSharpName}(ref vmcs02, vmcs12.{field.CSharpName}));"
            : $"result = result.Then(vmcs02.VmWrite({GeneratedHeader.Hex(field.Encoding)}, vmcs12.{field.CSharpName}));");
    }

    public static void EmitControlShadows(SourceWriter writer, VmcsManifest manifest)
    {
        var shadowed = manifest.ControlShadowed.ToList();
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// L0's software copies of the control fields of one hardware VMCS (keep one per VMCS: vmcs01, vmcs02). Zeroed at");
        writer.WriteLine("/// creation like a cleared VMCS, never reset on a VMCS switch. A setter VMWRITEs only when the value changes, because a");
        writer.WriteLine("/// control VMWRITE makes the next VM-entry run every consistency check; a getter never VMREADs.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public struct ControlShadows"))
        {
            writer.WriteLine($"public const int Count = {shadowed.Count};");
            foreach (var field in shadowed)
            {
                writer.WriteLine($"private {GeneratedHeader.CSharpType(field.Width)} _{Camel(field.CSharpName)};");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>VMWRITEs the setters actually issued (unchanged values cost none).</summary>");
            writer.WriteLine("public long Writes { readonly get; private set; }");
            foreach (var field in shadowed)
            {
                var type = GeneratedHeader.CSharpType(field.Width);
                var slot = "_" + Camel(field.CSharpName);
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: the value last written to this VMCS (no VMREAD).</summary>");
                writer.WriteLine($"public readonly {type} {field.CSharpName} => {slot};");
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: VMWRITE only if <paramref name=\"value\"/> differs from the shadow.</summary>");
                writer.WriteLine(GeneratedHeader.MethodImpl);
                writer.WriteLine($"public {VmxResult} Set{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} value)");
                using (writer.Block(ShadowFieldsEmitter.Constraint))
                {
                    writer.WriteLine($"if (value == {slot})");
                    writer.WriteLine("{");
                    writer.WriteLine($"    return {VmxResult}.Succeed;");
                    writer.WriteLine("}");
                    writer.WriteLine();
                    writer.WriteLine("Writes++;");
                    writer.WriteLine($"var result = vmcs.VmWrite({GeneratedHeader.Hex(field.Encoding)}, value);");
                    writer.WriteLine("if (result.IsSuccess)");
                    writer.WriteLine("{");
                    writer.WriteLine($"    {slot} = value;");
                    writer.WriteLine("}");
                    writer.WriteLine();
                    writer.WriteLine("return result;");
                }

                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: sets <paramref name=\"bits\"/> (VMWRITE only if that changes the value).</summary>");
                writer.WriteLine($"public {VmxResult} SetBits{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} bits)");
                writer.WriteLine($"    where TVmcs : struct, global::VmcsGen.IVmcs => Set{field.CSharpName}(ref vmcs, {slot} | bits);");
                writer.WriteLine();
                writer.WriteLine($"/// <summary>{field.Name}: clears <paramref name=\"bits\"/> (VMWRITE only if that changes the value).</summary>");
                writer.WriteLine($"public {VmxResult} ClearBits{field.CSharpName}<TVmcs>(ref TVmcs vmcs, {type} bits)");
                writer.WriteLine($"    where TVmcs : struct, global::VmcsGen.IVmcs => Set{field.CSharpName}(ref vmcs, {slot} & ~bits);");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Whether an encoding (full or _HIGH form) has a software shadow in this layout.</summary>");
            writer.WriteLine("public static bool IsShadowed(uint encoding) => (encoding & ~1U) switch");
            writer.WriteLine("{");
            writer.Indent();
            if (shadowed.Count > 0)
            {
                writer.WriteLine(string.Join(" or ", shadowed.Select(f => GeneratedHeader.Hex(f.Encoding))) + " => true,");
            }

            writer.WriteLine("_ => false,");
            writer.Unindent();
            writer.WriteLine("};");
        }
    }

    private static string Camel(string pascal) => char.ToLowerInvariant(pascal[0]) + pascal.Substring(1);
}
