namespace VmcsGen.Nested;

/// <summary>Why L1 exited to L0.</summary>
public enum ExitCause
{
    Vmread,
    Vmwrite,
    Vmptrld,
    Vmclear,
    Vmlaunch,
    Vmresume,
}
