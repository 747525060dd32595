using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class ReportTests
{
    private static IReadOnlyList<WorkloadResult> Results()
    {
        var workload = WorkloadParser.Load(System.IO.Path.Combine(AppContext.BaseDirectory, "Workloads", "cpuid-loop.workload"));
        var trace = Simulator.Trace(workload, Sim.Names, 300, 3);
        return [new WorkloadResult(workload, Sim.Strategies.Select(s => Simulator.Run(s, workload, Sim.Names, trace, new CostModel())).ToList())];
    }

    [Test]
    public void JsonFollowsItsSchemaAndCarriesTheSameNumbersAsCsv()
    {
        var results = Results();
        using var json = JsonDocument.Parse(Report.ToJson(results, new CostModel(), 300, 3));
        var root = json.RootElement;
        Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo("vmcsgen-nestedsim/2"));
        Assert.That((root.GetProperty("rounds").GetInt32(), root.GetProperty("seed").GetInt32()), Is.EqualTo((300, 3)));
        Assert.That(root.GetProperty("costs").GetProperty("l1-exit").GetDouble(), Is.EqualTo(CostModel.Term("l1-exit").Prior));
        var strategies = root.GetProperty("workloads")[0].GetProperty("strategies").EnumerateArray().ToList();
        Assert.That(strategies.Select(s => s.GetProperty("name").GetString()), Is.EqualTo(Sim.Strategies.Select(s => s.Name)));

        var csv = Report.ToCsv(results).Trim().Split('\n').Select(l => l.Split(',')).ToList();
        var header = csv[0].ToList();
        string[] keys = ["l1Exits", "vmreads", "vmwrites", "controlVmwrites", "vmptrlds", "vmclears", "fullConsistencyChecks", "vcpuStateSwitches",
            "runtimeOffsetLookups", "shadowedAccesses", "rareSyncs", "l1UserspaceTrips", "l1Injections", "fixedCycles", "countedCycles", "cycles",
            "deltaVsKvm2018", "changeVsKvm2018"];
        string[] columns = ["l1_exits", "vmreads", "vmwrites", "control_vmwrites", "vmptrlds", "vmclears", "full_consistency_checks", "vcpu_state_switches",
            "runtime_offset_lookups", "shadowed_accesses", "rare_syncs", "l1_userspace_trips", "l1_injections", "fixed_cycles", "counted_cycles", "cycles",
            "delta_vs_kvm2018", "change_vs_kvm2018"];
        for (var i = 0; i < strategies.Count; i++)
        {
            var perRoundTrip = strategies[i].GetProperty("perRoundTrip");
            Assert.That(perRoundTrip.GetProperty("l1ExitsByCause").ValueKind, Is.EqualTo(JsonValueKind.Object));
            for (var k = 0; k < keys.Length; k++)
            {
                var fromJson = perRoundTrip.GetProperty(keys[k]).GetDouble();
                var fromCsv = double.Parse(csv[i + 1][header.IndexOf(columns[k])], System.Globalization.CultureInfo.InvariantCulture);
                Assert.That(fromCsv, Is.EqualTo(fromJson).Within(1e-4 * Math.Max(1, Math.Abs(fromJson))), $"{Sim.Strategies[i].Name} {keys[k]}");
            }
        }
    }
}
