using System;
using System.IO;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary><c>convert</c>: a trace as a workload file.</summary>
public static partial class AdviseCommand
{
    internal static int Convert(AdviseOptions o)
    {
        if (o.Positional.Count != 1)
        {
            throw new ArgumentException("convert takes one trace file: convert FILE.trace --out FILE.workload");
        }

        var output = o.Out ?? throw new ArgumentException("convert needs --out FILE.workload");
        var names = Names();
        var trace = TraceFile.Load(o.Positional[0], names);
        var workload = TraceFile.ToWorkload(trace, TraceFile.NameOf(o.Positional[0]));
        Simulator.Validate(workload, names);
        var temporary = output + ".tmp";
        File.WriteAllText(temporary, TraceFile.ToWorkloadText(workload));
        File.Move(temporary, output, overwrite: true);
        Console.WriteLine($"wrote {output}: {trace.Rounds.Count} round trips as {workload.Exits.Count} exit blocks");
        return Program.Ran;
    }
}
