using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// A malformed workload file (or trace, or workload step a manifest cannot run): names the file, the line and column, and
/// what was expected. The runtime's <see cref="LineFormatException"/> formats the message and carries the position.
/// </summary>
public sealed class WorkloadFormatException(string path, int line, int column, string message)
    : LineFormatException(path, line, column, message);
