using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Samples.NestedSim;

/// <summary>How a workload line computes a value.</summary>
public enum ValueKind
{
    /// <summary>A fixed number.</summary>
    Constant,

    /// <summary>A fresh random 64-bit value each time.</summary>
    Random,

    /// <summary>L1's last known value of the field plus N (e.g. <c>+2</c> to skip an instruction).</summary>
    Add,

    /// <summary>L1's last known value with bits set (<c>|0x4</c>).</summary>
    SetBits,

    /// <summary>L1's last known value with bits cleared (<c>&amp;~0x4</c>).</summary>
    ClearBits,
}

public readonly record struct ValueSpec(ValueKind Kind, ulong Operand)
{
    /// <summary>The value this spec writes, from L1's last known value of the field and the round's random draw.</summary>
    public ulong Apply(ulong current, ulong random) => Kind switch
    {
        ValueKind.Constant => Operand,
        ValueKind.Random => random,
        ValueKind.Add => current + Operand,
        ValueKind.SetBits => current | Operand,
        _ => current & ~Operand,
    };

    public override string ToString() => Kind switch
    {
        ValueKind.Constant => $"0x{Operand:X}",
        ValueKind.Random => "random",
        ValueKind.Add => $"+{Operand}",
        ValueKind.SetBits => $"|0x{Operand:X}",
        _ => $"&~0x{Operand:X}",
    };
}

public enum StepKind
{
    /// <summary>The CPU writes the field into vmcs02 on the exit.</summary>
    Hardware,

    /// <summary>L1's handler VMREADs the field.</summary>
    Read,

    /// <summary>L1's handler VMWRITEs the field.</summary>
    Write,

    /// <summary>A workload event with a fixed cost (e.g. <c>l1-userspace</c>): not a VMCS access.</summary>
    Event,
}

/// <summary>One line of an exit or setup block; <paramref name="Column"/> is where its field (or event) name starts.</summary>
public sealed record Step(StepKind Kind, string Field, ValueSpec Value, double Probability, int Line, int Column = 0);

/// <summary>An L2 exit reason: what the CPU writes, and L1's handler, with a weight in the workload's mix.</summary>
/// <param name="Path">The file the block is written in (the workload, or a handlers file it uses).</param>
public sealed record ExitSpec(string Name, int Weight, IReadOnlyList<Step> Steps, int Line, string Path = "");

/// <summary>A parsed workload file.</summary>
/// <param name="PerIteration">Nested round trips per iteration of the workload's test (a kvm-unit-tests iteration may exit twice, or never).</param>
/// <param name="SetupPath">The file the setup block is written in.</param>
public sealed record Workload(
    string Name, string Description, string BasedOn, IReadOnlyList<Step> Setup, IReadOnlyList<ExitSpec> Exits, string Path,
    int PerIteration = 1, string SetupPath = "")
{
    /// <summary>Where a step of this workload is written.</summary>
    public string PathOf(Step step) =>
        Exits.FirstOrDefault(e => e.Steps.Contains(step))?.Path is { Length: > 0 } p ? p
        : Setup.Contains(step) && SetupPath.Length > 0 ? SetupPath
        : Path;
}
