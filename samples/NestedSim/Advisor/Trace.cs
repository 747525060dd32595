using System.Collections.Generic;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>One access or event of a recorded round trip, with the trace line it came from.</summary>
public sealed record TraceStep(StepKind Kind, string Field, ulong Value, int Line, int Column);

/// <summary>One recorded round trip: the exit reason, what the CPU wrote, and L1's handler up to VMRESUME.</summary>
public sealed record TraceRound(int Reason, int Line, IReadOnlyList<TraceStep> Hardware, IReadOnlyList<TraceStep> Handler);

/// <summary>A parsed trace: L1's setup writes before its first VMLAUNCH and every round trip after it.</summary>
public sealed record Trace(string Path, IReadOnlyList<TraceStep> Setup, IReadOnlyList<TraceRound> Rounds);
