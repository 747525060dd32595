using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Verify;

/// <summary>One step of a verify sequence; <see cref="ToString"/> is how reports show it.</summary>
public abstract record VerifyEvent;

public sealed record L1Read(ulong Encoding) : VerifyEvent
{
    public override string ToString() => $"VMREAD 0x{Encoding:X4}";
}

public sealed record L1Write(ulong Encoding, ulong Value) : VerifyEvent
{
    public override string ToString() => $"VMWRITE 0x{Encoding:X4} <- 0x{Value:X}";
}

public sealed record L1PtrLd(ulong Address) : VerifyEvent
{
    public override string ToString() => $"VMPTRLD 0x{Address:X}";
}

public sealed record L1Clear(ulong Address) : VerifyEvent
{
    public override string ToString() => $"VMCLEAR 0x{Address:X}";
}

public sealed record L1Launch : VerifyEvent
{
    public override string ToString() => "VMLAUNCH";
}

public sealed record L1Resume : VerifyEvent
{
    public override string ToString() => "VMRESUME";
}

/// <summary>L2 exits; the CPU writes these fields into vmcs02 (those vmcs12's VM-exit controls ask for).</summary>
public sealed record L2ExitEvent(FieldWrite[] Writes) : VerifyEvent
{
    public override string ToString() => "L2 exit, the CPU saving " +
        (Writes.Length == 0 ? "nothing new" : string.Join(", ", Writes.Select(w => $"0x{w.Encoding:X4}=0x{w.Value:X}")));
}

/// <summary>L2 changes a field L0 keeps current (an intercepted WRMSR L0 writes through to vmcs12).</summary>
public sealed record L2WriteThroughEvent(uint Encoding, ulong Value) : VerifyEvent
{
    public override string ToString() => $"L2 WRMSR, L0 writes through 0x{Encoding:X4} <- 0x{Value:X}";
}

public sealed record ExportEvent : VerifyEvent
{
    public override string ToString() => "KVM_GET_NESTED_STATE";
}
