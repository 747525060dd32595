using VmcsGen.Software;

namespace VmcsGen.Nested;

/// <summary>Builds a nested engine on a fresh <see cref="SoftwareVmx"/> with its three VMCS regions.</summary>
public static class SoftwareNested
{
    public const ulong Vmcs01 = 0x10_0000;
    public const ulong Vmcs02 = 0x10_1000;
    public const ulong Shadow = 0x10_2000;

    /// <summary>
    /// L0's processor for the engine: the reference CPU (<see cref="VmxProfile.Hardware"/>: VMWRITE-any, VMCS shadowing)
    /// with every known field (the engine prepares vmcs02 for every field of any manifest, including those of features the
    /// reference CPU's MSRs do not offer, which <see cref="VmxProfile.Hardware"/> leaves out) and VM-entry checks off,
    /// because the engine builds vmcs02 from vmcs12 and the shipped workloads' vmcs12 do not hold a complete guest state
    /// (docs/RUNTIME.md, "The engine and the entry checks").
    /// </summary>
    public static VmxProfile Profile { get; } =
        VmxProfile.Hardware(name: "hardware, entry checks off") with { Catalog = VmcsFieldCatalog.AllKnown, EntryChecks = false };

    /// <summary>A <see cref="SoftwareVmx"/> with <see cref="Profile"/> and an engine of the given layout on it.</summary>
    public static (NestedVmx<TLayout, TControls, SoftwareVmcs> Engine, SoftwareVmx Processor) Create<TLayout, TControls>(NestedVmxOptions? options = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var cpu = CreateProcessor();
        return (new NestedVmx<TLayout, TControls, SoftwareVmcs>(cpu.Vmcs, Vmcs01, Vmcs02, Shadow, options), cpu);
    }

    /// <summary>A <see cref="SoftwareVmx"/> with <see cref="Profile"/> and the engine's three VMCS regions.</summary>
    internal static SoftwareVmx CreateProcessor()
    {
        var cpu = new SoftwareVmx(Profile);
        cpu.CreateRegion(Vmcs01);
        cpu.CreateRegion(Vmcs02);
        cpu.CreateRegion(Shadow, shadow: true);
        return cpu;
    }

    /// <summary>The naive oracle of the same layout on its own <see cref="SoftwareVmx"/>.</summary>
    public static ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs> CreateReference<TLayout, TControls>(NestedVmxOptions? options = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var cpu = new SoftwareVmx(Profile);
        cpu.CreateRegion(Vmcs02);
        return new ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs>(cpu.Vmcs, Vmcs02, options);
    }
}
