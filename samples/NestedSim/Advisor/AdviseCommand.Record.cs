using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary><c>record</c>: a workload run on a manifest's engine, written as a trace.</summary>
public static partial class AdviseCommand
{
    internal static int Record(AdviseOptions o)
    {
        var output = o.Out ?? throw new ArgumentException("record needs --out FILE.trace");
        var input = LoadManifest(o.Manifest ?? "kvm");
        var names = Names(input.Layout);
        if (o.Workloads.Count != 1 || o.Traces.Count > 0 || o.Suite is not null)
        {
            throw new ArgumentException("record takes exactly one --workload");
        }

        var (workload, _) = LoadWorkloads(o, names).Single();
        if (workload.PerIteration == 0)
        {
            throw new ArgumentException($"--workload {workload.Name}: it never exits to L1 (per-iteration 0); there is nothing to record");
        }

        var trace = Simulator.Trace(workload, names, o.Rounds, o.Seed);
        var temporary = output + ".tmp";
        using (var stream = File.Create(temporary))
        using (var compressed = output.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionLevel.Optimal) : (Stream)stream)
        using (var file = new StreamWriter(compressed))
        {
            file.WriteLine($"# recorded by NestedSim record: workload {workload.Name} on {input.Layout.ManifestFile}, {o.Rounds} round trips, seed {o.Seed}");
            var strategy = new Strategy("record", input.Layout.ManifestFile, input.Layout, new NestedVmxOptions());
            Simulator.Run(strategy, workload, names, trace, new CostModel(), wrap: engine => new NestedTraceRecorder(engine, file, input.Layout.Fields),
                warmup: 0);
        }

        File.Move(temporary, output, overwrite: true);
        Console.WriteLine($"wrote {output}: {o.Rounds} round trips of {workload.Name} on {input.Layout.ManifestFile}");
        return Program.Ran;
    }
}
