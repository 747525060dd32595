using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using VmcsGen.Bochs;
using VmcsGen.Nested;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.Samples.BochsVmx;

/// <summary>
/// Runs a NestedSim workload's nested entries on SoftwareVmx (the engine of a generated layout, as the simulator drives it:
/// L1's setup, VMLAUNCH, then per round the CPU's exit writes, L1's handler and VMRESUME) and takes vmcs02's fields after
/// every entry, for <see cref="Vmcs02Check"/>.
/// </summary>
public static class Vmcs02Workload
{
    /// <summary>A shipped workload (Workloads/NAME.workload, Workloads/vmexit/NAME.workload) or a file.</summary>
    public static Workload Load(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "Workloads");
        var candidates = new[] { Path.Combine(directory, name + ".workload") }
            .Concat(Directory.Exists(directory) ? Directory.EnumerateDirectories(directory).Select(d => Path.Combine(d, name + ".workload")) : [])
            .Append(name);
        var path = candidates.FirstOrDefault(File.Exists) ?? throw new ExecutionUsageException(
            $"--workload {name}: neither a shipped workload ({string.Join(", ", Directory.Exists(directory)
                ? Directory.EnumerateFiles(directory, "*.workload", SearchOption.AllDirectories).Select(Path.GetFileNameWithoutExtension).Order()
                : [])}) nor a file");
        return WorkloadParser.Load(path);
    }

    /// <summary>
    /// vmcs02 after the VMLAUNCH and each of <paramref name="trace"/>'s VMRESUMEs. <paramref name="valid"/>, when given, is
    /// written by L1 into vmcs12 after the workload's setup and before VMLAUNCH (<see cref="ValidL2State"/>).
    /// </summary>
    public static List<Vmcs02Entry> Collect<TLayout, TControls>(Workload workload, IReadOnlyDictionary<string, uint> names, Round[] trace,
        IReadOnlyList<(uint Encoding, ulong Value)>? valid, string label)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        var (engine, cpu) = SoftwareNested.Create<TLayout, TControls>();
        var known = new Dictionary<uint, ulong>();
        engine.Memory.CreateRegion(Simulator.Vmcs12Address, TLayout.Revision);
        Expect(engine.L1VmPtrLd(Simulator.Vmcs12Address), "VMPTRLD");
        foreach (var step in workload.Setup)
        {
            var encoding = names[step.Field];
            var value = Resolve(step.Value, known, encoding, 0);
            if (engine.L1VmWrite(encoding, value).IsSuccess)
            {
                known[encoding] = value;
            }
        }

        foreach (var (encoding, value) in valid ?? [])
        {
            if (engine.L1VmWrite(encoding, value).IsSuccess)
            {
                known[encoding] = value;
            }
        }

        var fields = TLayout.Fields.ToArray().Where(f => !f.IsHigh && cpu.Catalog.Supports(f.Encoding)).Select(f => f.Encoding).ToArray();
        Vmcs02Entry Snapshot(string what) => new($"{label} {what}", fields.Select(e => (e, cpu.Peek(SoftwareNested.Vmcs02, e))).ToList());

        Expect(engine.L1VmLaunch(), "VMLAUNCH");
        var entries = new List<Vmcs02Entry> { Snapshot("VMLAUNCH") };
        for (var i = 0; i < trace.Length; i++)
        {
            // As Simulator.Run plays a round: the CPU's exit writes, L1's handler, VMRESUME.
            engine.L2Exit(trace[i].Hardware);
            foreach (var action in trace[i].Handler)
            {
                if (action.Kind == StepKind.Read)
                {
                    if (engine.L1VmRead(action.Encoding, out var read).IsSuccess)
                    {
                        known[action.Encoding] = read;
                    }
                }
                else
                {
                    var value = Resolve(action.Value, known, action.Encoding, action.Random);
                    if (engine.L1VmWrite(action.Encoding, value).IsSuccess)
                    {
                        known[action.Encoding] = value;
                    }
                }
            }

            Expect(engine.L1VmResume(), "VMRESUME");
            entries.Add(Snapshot($"VMRESUME {i + 1}"));
        }

        return entries;
    }

    /// <summary>The value a workload line writes, by the simulator's rule (<see cref="ValueSpec.Apply"/>).</summary>
    private static ulong Resolve(ValueSpec spec, Dictionary<uint, ulong> known, uint encoding, ulong random) =>
        spec.Apply(known.GetValueOrDefault(encoding), random);

    private static void Expect(VmxResult result, string what)
    {
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"the engine's {what} for L1 failed with {result}");
        }
    }
}
