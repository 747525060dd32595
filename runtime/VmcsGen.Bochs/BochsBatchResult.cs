using System;
using System.Collections.Generic;

namespace VmcsGen.Bochs;

/// <summary>The records of one batch, by program (in the order given) and recorded step.</summary>
public sealed record BochsBatchResult(IReadOnlyList<IReadOnlyList<InstructionRecord>> Programs, int Boots, int Instructions, TimeSpan Elapsed);
