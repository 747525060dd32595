namespace VmcsGen.Software;

/// <summary>Whether the logical processor is in VMX operation, and which side of it.</summary>
public enum VmxOperation : byte
{
    Outside,
    Root,
    NonRoot,
}
