namespace VmcsGen.Nested;

/// <summary>
/// L1's VMREAD, VMWRITE, VMPTRLD and VMCLEAR on a nested engine, as an <see cref="IVmcs"/>: L1 handler code written
/// against IVmcs (generic over <c>TVmcs : struct, IVmcs</c>, like the generated accessors) runs on the engine, in VMX
/// non-root operation, with the shadow VMCS deciding each access.
/// </summary>
public readonly struct NestedL1Vmcs(INestedEngine engine) : IVmcs
{
    public VmxResult VmRead(uint encoding, out ulong value) => engine.L1VmRead(encoding, out value);

    public VmxResult VmWrite(uint encoding, ulong value) => engine.L1VmWrite(encoding, value);

    public VmxResult VmPtrLd(ulong address) => engine.L1VmPtrLd(address);

    public VmxResult VmClear(ulong address) => engine.L1VmClear(address);
}
