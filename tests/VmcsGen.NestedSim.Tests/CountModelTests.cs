using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// The advisor searches with <see cref="CountModel"/> instead of running the engine; these tests hold the model to the
/// compiled engine, counter for counter, so a search result is what NestedVmx would really do.
/// </summary>
public sealed class CountModelTests
{
    private static readonly string[] Workloads =
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Workloads"), "*.workload",
            SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

    private static readonly string[] StrategyNames = Sim.Strategies.Select(s => s.Name).ToArray();

    [TestCaseSource(nameof(StrategyNames))]
    public void TheModelCountsWhatTheEngineCountsOnEveryShippedWorkload(string strategyName)
    {
        var strategy = Sim.Named(strategyName);
        var classification = Classification.Of(strategy.Layout);
        var model = new CountModel(classification, strategy.Options);
        var checkedWorkloads = 0;
        foreach (var path in Workloads)
        {
            var workload = WorkloadParser.Load(path);
            if (workload.PerIteration == 0)
            {
                continue;
            }

            var trace = Simulator.Trace(workload, Sim.Names, 1_000, seed: 7);
            var engine = Simulator.Run(strategy, workload, Sim.Names, trace, new CostModel());
            var profile = WorkloadProfile.Build(classification, workload, Sim.Names, trace);
            Assert.That(model.Count(profile), Is.EqualTo(engine.Total), $"{strategyName} on {workload.Name}");
            checkedWorkloads++;
        }

        Assert.That(checkedWorkloads, Is.GreaterThanOrEqualTo(25), "every shipped workload with exits");
    }
}
