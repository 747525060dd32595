using VmcsGen.Software;

namespace VmcsGen.Nested;

/// <summary>Builds a nested engine on a fresh <see cref="SoftwareVmx"/> with its three VMCS regions.</summary>
public static class SoftwareNested
{
    public const ulong Vmcs01 = 0x10_0000;
    public const ulong Vmcs02 = 0x10_1000;
    public const ulong Shadow = 0x10_2000;

    /// <summary>A <see cref="SoftwareVmx"/> (every known field, VMWRITE-any, VMCS shadowing) and an engine of the given layout on it.</summary>
    public static (NestedVmx<TLayout, TControls, SoftwareVmcs> Engine, SoftwareVmx Processor) Create<TLayout, TControls>(NestedVmxOptions? options = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(Vmcs01);
        cpu.CreateRegion(Vmcs02);
        cpu.CreateRegion(Shadow, shadow: true);
        return (new NestedVmx<TLayout, TControls, SoftwareVmcs>(cpu.Vmcs, Vmcs01, Vmcs02, Shadow, options), cpu);
    }

    /// <summary>The naive oracle of the same layout on its own <see cref="SoftwareVmx"/>.</summary>
    public static ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs> CreateReference<TLayout, TControls>(NestedVmxOptions? options = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(Vmcs02);
        return new ReferenceNestedVmx<TLayout, TControls, SoftwareVmcs>(cpu.Vmcs, Vmcs02, options);
    }
}
