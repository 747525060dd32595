namespace VmcsGen.Software;

/// <summary>Reads the fields of a VMCS for the entry checks (a field the VMCS lacks reads as 0).</summary>
public interface IVmcsFieldReader
{
    ulong Read(uint encoding);
}
