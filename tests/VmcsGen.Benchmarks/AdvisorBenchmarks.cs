using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using VmcsGen.Nested;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Benchmarks;

/// <summary>
/// How long the classification advisor takes on KVM's 147 fields, against a baseline everyone knows: one NestedSim run of
/// one strategy (kvm-2018.vmcs on today's engine) over the same three workloads, 20,000 round trips each. The search is
/// the whole `advise` hill climb from kvm-2018.vmcs (thousands of classifications through the count model); the third
/// row is one classification through the model. Proving the proposal (compile, engine runs, safety run) is not timed here.
/// </summary>
public class AdvisorBenchmarks
{
    private const int Rounds = 20_000;
    private ManifestInput _input = null!;
    private List<(Workload Workload, Round[] Trace)> _workloads = null!;
    private IReadOnlyDictionary<string, uint> _names = null!;
    private Advisor _advisor = null!;
    private CostModel _costs = null!;
    private Strategy _strategy = null!;

    [GlobalSetup]
    public void Setup()
    {
        _input = AdviseCommand.LoadManifest("kvm-2018");
        _names = AdviseCommand.Names(_input.Layout);
        var workloads = AdviseCommand.LoadWorkloads(AdviseOptions.Parse("advise", []), _names);
        _workloads = workloads.Select(w => (w.Workload, Simulator.Trace(w.Workload, _names, Rounds, 1))).ToList();
        _advisor = new Advisor(AdviseCommand.Profiles(_input.Classification, workloads, _names, Rounds, 1));
        _costs = CostModel.Default();
        _strategy = new Strategy("kvm-2018", "kvm-2018.vmcs", _input.Layout, new NestedVmxOptions());
    }

    [Benchmark(Baseline = true, Description = "one NestedSim strategy: kvm-2018.vmcs on 3 workloads x 20,000 round trips")]
    public double SimulateOneStrategy() => _workloads.Sum(w => Simulator.Run(_strategy, w.Workload, _names, w.Trace, _costs).Cycles);

    [Benchmark(Description = "advise: the whole search from kvm-2018.vmcs (147 fields, 3 workloads)")]
    public double Search() => _advisor.Search(_input.Classification, _costs).WeightedAfter;

    [Benchmark(Description = "one classification through the count model (3 workloads)")]
    public double EvaluateOne() => _advisor.Cost(_input.Classification, _costs);
}
