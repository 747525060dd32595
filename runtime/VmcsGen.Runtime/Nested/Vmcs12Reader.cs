namespace VmcsGen.Nested;

/// <summary>vmcs12 as the VM-entry checks read it (both engines' L0 checks): a field the layout lacks reads as 0.</summary>
internal readonly struct Vmcs12Reader<TLayout, TControls>(byte[] vmcs12) : Software.IVmcsFieldReader
    where TLayout : IVmcsLayout<TControls>
    where TControls : struct
{
    public ulong Read(uint encoding) => TLayout.Read(vmcs12, encoding, out var value).IsSuccess ? value : 0;
}
