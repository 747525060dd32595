using System;
using Microsoft.CodeAnalysis;
using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Runs every part emitter over every manifest; hint names are <c>{Namespace}.{Part}.g.cs</c>.</summary>
internal static class SourceEmitter
{
    private static readonly (string Part, string Summary, Action<SourceWriter, VmcsManifest> Emit)[] Parts =
    [
        ("VmcsField", "the field enum", FieldEnumEmitter.Emit),
        ("Features", "the feature flags", FieldEnumEmitter.EmitFeatures),
        ("VmcsFieldInfo", "field descriptors", FieldInfoEmitter.Emit),
        ("Vmcs12", "the vmcs12 layout", Vmcs12Emitter.Emit),
        ("Vmcs12Access", "VMREAD/VMWRITE on vmcs12 and the offset lookups", Vmcs12AccessEmitter.Emit),
        ("ShadowFields", "shadow VMCS tables, bitmaps and copy loops", ShadowFieldsEmitter.Emit),
        ("ExitSync", "the nested VM-exit sync", ExitSyncEmitter.Emit),
        ("DirtyGroups", "dirty-tracking groups", DirtyGroupsEmitter.Emit),
        ("EntryPrepare", "the nested VM-entry preparation", EntryPrepareEmitter.Emit),
        ("ControlShadows", "software shadows of control fields", ControlShadowsEmitter.Emit),
        ("Layout", "the layout as IVmcsLayout for the nested engine", LayoutEmitter.Emit),
    ];

    /// <summary>How many sources each manifest produces.</summary>
    public static int PartCount => Parts.Length;

    /// <summary>Emits every part of one manifest; nothing for null (a manifest with errors, or one that lost its namespace).</summary>
    public static void Emit(SourceProductionContext context, VmcsManifest? manifest)
    {
        if (manifest is null)
        {
            return;
        }

        foreach (var (part, summary, emit) in Parts)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var writer = GeneratedHeader.Create(manifest, summary);
            emit(writer, manifest);
            context.AddSource(manifest.Namespace + "." + part + ".g.cs", writer.ToSourceText());
        }
    }
}
