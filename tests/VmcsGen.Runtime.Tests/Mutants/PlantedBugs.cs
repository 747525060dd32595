using System;
using VmcsGen.Nested;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests.Mutants;

/// <summary>Faults the equivalence tests plant in a test-only build of the engine, to show the property catches them.</summary>
[Flags]
internal enum PlantedBug
{
    None = 0,

    /// <summary>A trapped VMWRITE marks vmcs12 dirty without first syncing the stale rare set.</summary>
    SkipRareSyncBeforeDirty = 1,

    /// <summary>VMCLEAR of the current vmcs12 writes it back without copying the shadow VMCS into it first.</summary>
    SkipShadowFlushOnVmclear = 2,
}

/// <summary>
/// The engine's source (runtime/VmcsGen.Runtime/Nested/NestedVmx*.cs, linked into this project and compiled with
/// VMCSGEN_MUTANTS) plus the switch for its planted bugs: the shipped engine never carries them.
/// </summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    internal PlantedBug Bug { get; init; }

    /// <summary>A field whose every-exit read back from vmcs02 is missing (0: none), as in KVM bugs that forgot one.</summary>
    internal uint ForgetOnExit { get; init; }
}

internal static class Mutant
{
    /// <summary>As <see cref="SoftwareNested.Create{TLayout, TControls}"/>, with the mutant engine and its bug.</summary>
    public static NestedVmx<TLayout, TControls, SoftwareVmcs> Create<TLayout, TControls>(NestedVmxOptions options, PlantedBug bug, uint forgetOnExit = 0)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var cpu = SoftwareNested.CreateProcessor();
        return new NestedVmx<TLayout, TControls, SoftwareVmcs>(cpu.Vmcs, SoftwareNested.Vmcs01, SoftwareNested.Vmcs02, SoftwareNested.Shadow, options) { Bug = bug, ForgetOnExit = forgetOnExit };
    }
}
