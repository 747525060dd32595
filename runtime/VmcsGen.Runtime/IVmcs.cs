namespace VmcsGen;

/// <summary>
/// A backend's VMX instructions on its current VMCS. Implemented by structs, and used as a generic constraint
/// (<c>where T : struct, IVmcs</c>) so the JIT compiles one copy of the engine and the copy loops per backend, with no
/// interface dispatch.
/// </summary>
public interface IVmcs
{
    /// <summary>VMREAD: the value zero-extended to 64 bits, or a VMX failure (value 0).</summary>
    VmxResult VmRead(uint encoding, out ulong value);

    /// <summary>VMWRITE: the value truncated to the field's width, or a VMX failure (nothing written).</summary>
    VmxResult VmWrite(uint encoding, ulong value);

    /// <summary>VMPTRLD: makes the VMCS at <paramref name="address"/> current.</summary>
    VmxResult VmPtrLd(ulong address);

    /// <summary>VMCLEAR: writes back and clears the VMCS at <paramref name="address"/>; it stops being current.</summary>
    VmxResult VmClear(ulong address);
}

/// <summary>
/// Opt-in for an <see cref="IVmcs"/> struct whose copies are interchangeable: it holds no state of its own, only
/// references to it (as <see cref="Software.SoftwareVmcs"/> holds its <see cref="Software.SoftwareVmx"/>), so a VMREAD or
/// VMWRITE through any copy acts on the same VMCS. Generated copy loops run on a copy kept in registers and write it back
/// to the caller's <c>ref</c> only for backends without this marker (a struct with fields it mutates).
/// </summary>
public interface IVmcsHandle : IVmcs
{
}
