using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>One change of a proposal: the field, its choice before and after, and what it is worth on its own.</summary>
/// <param name="Cycles">Modelled cycles per round trip this change saves (positive) in the proposal: the proposal minus the proposal with this field put
/// back.</param>
/// <param name="Counts">The counters the change moves, per round trip (proposal minus reverted), weighted over the workloads.</param>
public sealed record FieldChange(FieldChoice Before, FieldChoice After, double ReadShare, double WriteShare, double Cycles,
    IReadOnlyDictionary<string, double> Counts);

/// <summary>What the modelled saving becomes when one uncertain cost term sits at an end of its range.</summary>
public sealed record Robustness(string Term, double Min, double Max, double SavingAtMin, double SavingAtMax)
{
    public bool Holds => SavingAtMin >= 0 && SavingAtMax >= 0;
}

/// <summary>The result of a search: the proposal, its changes, and cycles before and after, per workload and weighted.</summary>
public sealed record Advice(
    Classification Before, Classification After, IReadOnlyList<FieldChange> Changes,
    IReadOnlyList<(string Workload, double Weight, double Before, double After)> PerWorkload,
    double WeightedBefore, double WeightedAfter, IReadOnlyList<Robustness> Robustness, int Evaluations, int Steps, double WorstCaseSaving = 0)
{
    public double Saving => WeightedBefore - WeightedAfter;

    /// <summary>Whether the proposal saves at every end of every range, and with all terms at their worst ends at once.</summary>
    public bool Robust => Robustness.All(r => r.Holds) && WorstCaseSaving >= 0;
}

/// <summary>
/// Searches field classifications for the lowest modelled cycles per round trip, weighted over workloads, using
/// <see cref="CountModel"/> (exact engine counts, computed) and a <see cref="CostModel"/>. Best-improvement hill climbing
/// over single-field moves (class, control shadow, dirty group) and two compound moves a single move cannot find — a
/// whole rare set at once (its first member pays the rare sync's fixed VMPTRLDs alone) and every improving single move
/// together — from the given manifest, within the rules of <see cref="Allowed"/>, until no move saves 0.01 cycles.
/// </summary>
public sealed class Advisor
{
    public const int MaxShadowed = FieldRules.MaxShadowed; // beyond it, warning VMCS0117
    public const int MaxGroups = FieldRules.MaxDirtyGroups; // VMCS0114
    private const double Epsilon = 0.01;
    private readonly IReadOnlyList<WorkloadProfile> _profiles;
    private readonly NestedVmxOptions _options;
    private readonly double _weightSum;
    private int _evaluations;

    public Advisor(IReadOnlyList<WorkloadProfile> profiles, NestedVmxOptions? options = null)
    {
        _profiles = profiles;
        _options = options ?? new NestedVmxOptions();
        _weightSum = profiles.Sum(p => p.Weight);
        if (!(_weightSum > 0))
        {
            throw new ArgumentException("the workload weights sum to 0: give at least one workload a positive weight");
        }
    }

    /// <summary>The workloads the advisor weighs, reduced to their round-trip shapes.</summary>
    public IReadOnlyList<WorkloadProfile> Profiles => _profiles;

    /// <summary>Weighted mean of modelled cycles per round trip.</summary>
    public double Cost(Classification c, CostModel costs)
    {
        _evaluations++;
        var model = new CountModel(c, _options);
        return _profiles.Sum(p => p.Weight * PerRound(model, p, costs)) / _weightSum;
    }

    private static double PerRound(CountModel model, WorkloadProfile p, CostModel costs) =>
        p.Rounds == 0 ? 0 : costs.Of(model.Count(p), p.Events).Total / p.Rounds;

    /// <summary>Counters per round trip, weighted over the workloads.</summary>
    public Dictionary<string, double> Units(Classification c)
    {
        var model = new CountModel(c, _options);
        var units = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in _profiles.Where(p => p.Rounds > 0))
        {
            foreach (var (name, value) in CostModel.Units(model.Count(p)))
            {
                units[name] = units.GetValueOrDefault(name) + p.Weight * value / p.Rounds / _weightSum;
            }
        }

        return units;
    }

    /// <summary>The classes, control shadows and groups a field may take (<see cref="Allowed"/>), as whole choices.</summary>
    public static IEnumerable<FieldChoice> Moves(FieldChoice f, bool vmwriteAny)
    {
        foreach (var c in Allowed(f, vmwriteAny).Where(c => c != f.Class))
        {
            yield return f with { Class = c, Group = FieldRules.HasDirtyGroup(c) && FieldRules.HasDirtyGroup(f.Class) ? f.Group : null };
        }

        if (FieldRules.CheckControlShadow(f.Type, f.Width) == FieldRules.Violations.None)
        {
            yield return f with { ControlShadow = !f.ControlShadow };
        }

        if (FieldRules.HasDirtyGroup(f.Class))
        {
            var own = GroupName(f.Name);
            yield return f with { Group = f.Group == own ? null : own };
        }
    }

    /// <summary>
    /// The classes a field may take: what the generator accepts without a diagnostic (<see cref="FieldRules.IsAllowed"/>:
    /// shadow-rw never on an exit-information field unless vmwrite-any, VMCS0111, nor on segment AR bytes, VMCS0115;
    /// rare-sync only on guest state, VMCS0110) and the engine without a change of meaning. On top of those rules, two of
    /// the advisor's own: VM_INSTRUCTION_ERROR keeps its class (<see cref="FieldRules.IsWrittenByL0"/>: L0 writes it), and
    /// outside the shadow a field keeps its manifest's sync or no-sync choice (its default class when it is shadowed or
    /// rare): a synced guest or exit-information field never becomes no-sync (vmcs12 would miss what L2 changed; only the
    /// manifest's author knows where L0 writes such a field through), and a no-sync one never becomes rare-sync.
    /// </summary>
    public static IReadOnlyList<FieldClass> Allowed(FieldChoice f, bool vmwriteAny)
    {
        if (FieldRules.IsWrittenByL0(f.Encoding))
        {
            return [f.Class];
        }

        var unshadowed = f.Class is FieldClass.Sync or FieldClass.NoSync ? f.Class : FieldRules.DefaultClass(f.Type);
        return new[] { FieldClass.ShadowRw, FieldClass.ShadowRo, unshadowed, FieldClass.RareSync }
            .Where(c => FieldRules.IsAllowed(f.Encoding, c, vmwriteAny) && !(c == FieldClass.RareSync && f.Class == FieldClass.NoSync))
            .ToList();
    }

    /// <summary>
    /// Whether the whole classification builds without a diagnostic: every field's class (<see cref="FieldRules.IsAllowed"/>)
    /// and the limits the single-field rules cannot see (<see cref="FieldRules.MaxShadowed"/>, <see cref="FieldRules.MaxDirtyGroups"/>).
    /// </summary>
    public static bool WithinLimits(Classification c) =>
        c.Fields.Count(f => f.IsShadowed) <= MaxShadowed
        && c.Fields.Where(f => FieldRules.HasDirtyGroup(f.Class)).Select(f => f.Group ?? string.Empty).Distinct().Count() <= MaxGroups
        && c.Fields.All(f => FieldRules.IsAllowed(f.Encoding, f.Class, c.VmwriteAny));

    /// <summary>
    /// A dirty group of one field, named in the manifest's group syntax (docs/MANIFEST.md: lower-case words of letters and
    /// digits joined by '-', each starting with a letter; not none or all): GUEST_INTR_STATUS → guest-intr-status.
    /// </summary>
    public static string GroupName(string field)
    {
        var words = field.ToLowerInvariant()
            .Split('_', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => new string(w.Where(char.IsAsciiLetterOrDigit).ToArray()))
            .Where(w => w.Length > 0)
            .Select(w => char.IsAsciiLetter(w[0]) ? w : "f" + w)
            .ToList();
        var name = words.Count == 0 ? "field" : string.Join('-', words);
        return name is "none" or "all" ? name + "-field" : name;
    }

    /// <summary>
    /// Makes the start legal first (e.g. kvm-2018's shadow-rw AR bytes, warning VMCS0115, go to their cheapest legal class),
    /// then climbs. <paramref name="progress"/> gets (step, cycles) after each accepted move.
    /// </summary>
    public Advice Search(Classification start, CostModel costs, Action<int, double>? progress = null, int maxSteps = 500)
    {
        _evaluations = 0;
        var current = MakeLegal(start, costs);
        var cost = Cost(current, costs);
        var steps = 0;
        for (; steps < maxSteps; steps++)
        {
            var singles = new List<(int Index, FieldChoice Choice, double Cost)>();
            for (var i = 0; i < current.Fields.Length; i++)
            {
                foreach (var move in Moves(current.Fields[i], current.VmwriteAny))
                {
                    var candidate = current.With(i, move);
                    if (WithinLimits(candidate))
                    {
                        singles.Add((i, move, Cost(candidate, costs)));
                    }
                }
            }

            var compounds = new List<Classification>();
            // Every improving single move at once (best per field).
            var together = current;
            foreach (var best in singles.Where(s => s.Cost < cost - Epsilon).GroupBy(s => s.Index).Select(g => g.MinBy(s => s.Cost)))
            {
                together = together.With(best.Index, best.Choice);
            }

            compounds.Add(together);
            compounds.AddRange(RareSets(current));
            var bestSingle = singles.Count == 0 ? default : singles.MinBy(s => s.Cost);
            var next = singles.Count == 0 ? null : current.With(bestSingle.Index, bestSingle.Choice);
            var nextCost = singles.Count == 0 ? double.MaxValue : bestSingle.Cost;
            foreach (var compound in compounds.Where(WithinLimits))
            {
                var compoundCost = Cost(compound, costs);
                if (compoundCost < nextCost)
                {
                    (next, nextCost) = (compound, compoundCost);
                }
            }

            if (next is null || nextCost > cost - Epsilon)
            {
                break;
            }

            (current, cost) = (next, nextCost);
            progress?.Invoke(steps + 1, cost);
        }

        return Explain(start, current, costs, steps);
    }

    /// <summary>Rare sets by read share: every synced guest field L1 reads on at most t of the round trips, for a few t.</summary>
    private IEnumerable<Classification> RareSets(Classification current)
    {
        foreach (var threshold in new[] { 0, 0.001, 0.01, 0.05, 0.2 })
        {
            var moved = current;
            for (var i = 0; i < current.Fields.Length; i++)
            {
                var f = current.Fields[i];
                if (f.Class == FieldClass.Sync && FieldRules.IsAllowed(f.Encoding, FieldClass.RareSync, current.VmwriteAny) && ReadShare(i) <= threshold)
                {
                    moved = moved.With(i, f with { Class = FieldClass.RareSync });
                }
            }

            yield return moved;
        }
    }

    private double ReadShare(int field) => _profiles.Sum(p => p.Weight * p.ReadShare(field)) / _weightSum;

    private double WriteShare(int field) => _profiles.Sum(p => p.Weight * p.WriteShare(field)) / _weightSum;

    /// <summary>Fields whose class the generator would warn about or refuse get the cheapest class they may take.</summary>
    private Classification MakeLegal(Classification start, CostModel costs)
    {
        var legal = start;
        for (var i = 0; i < start.Fields.Length; i++)
        {
            var f = start.Fields[i];
            if (!Allowed(f, start.VmwriteAny).Contains(f.Class))
            {
                legal = Moves(f, start.VmwriteAny)
                    .Where(m => m.Class != f.Class && Allowed(f, start.VmwriteAny).Contains(m.Class))
                    .Select(m => legal.With(i, m))
                    .MinBy(c => Cost(c, costs))!;
            }
        }

        return legal;
    }

    /// <summary>The per-field account of a proposal against where it started, and how it holds across each cost term's range.</summary>
    public Advice Explain(Classification before, Classification after, CostModel costs, int steps = 0)
    {
        var changes = new List<FieldChange>();
        var afterCost = Cost(after, costs);
        var afterUnits = Units(after);
        for (var i = 0; i < after.Fields.Length; i++)
        {
            var original = before.Fields[before.IndexOf(after.Fields[i].Encoding)];
            if (original == after.Fields[i])
            {
                continue;
            }

            var reverted = after.With(i, original);
            var revertedUnits = Units(reverted);
            var counts = afterUnits.Keys.Union(revertedUnits.Keys)
                .Select(k => (k, afterUnits.GetValueOrDefault(k) - revertedUnits.GetValueOrDefault(k)))
                .Where(x => Math.Abs(x.Item2) > 1e-9)
                .ToDictionary(x => x.k, x => x.Item2, StringComparer.Ordinal);
            changes.Add(new FieldChange(original, after.Fields[i], ReadShare(i), WriteShare(i),
                WithinLimits(reverted) ? Cost(reverted, costs) - afterCost : double.NaN, counts));
        }

        var perWorkload = _profiles.Select(p => (
            p.Workload.Name, p.Weight,
            PerRound(new CountModel(before, _options), p, costs),
            PerRound(new CountModel(after, _options), p, costs))).ToList();

        var robustness = new List<Robustness>();
        foreach (var term in CostModel.Terms.Where(t => t.Uncertain))
        {
            double SavingAt(double cycles)
            {
                var moved = new CostModel(costs.Cycles);
                moved.Set(term.Name, cycles);
                return Cost(before, moved) - Cost(after, moved);
            }

            robustness.Add(new Robustness(term.Name, term.Min, term.Max, SavingAt(term.Min), SavingAt(term.Max)));
        }

        // Cycles are linear in the cost terms, so the least favourable corner of the ranges puts each uncertain term at the
        // end that shrinks the saving: its minimum where the proposal saves units of it, its maximum where it adds some.
        var beforeUnits = Units(before);
        var worst = CostModel.Terms.Sum(term =>
        {
            var saved = beforeUnits.GetValueOrDefault(term.Name) - afterUnits.GetValueOrDefault(term.Name);
            return saved * (!term.Uncertain ? costs[term.Name] : saved > 0 ? term.Min : term.Max);
        });

        return new Advice(before, after, changes.OrderByDescending(c => c.Cycles).ToList(), perWorkload, Cost(before, costs), afterCost, robustness,
            _evaluations, steps, worst);
    }

    internal static string Percent(double share) => (share * 100).ToString(share is > 0 and < 0.001 ? "0.###" : "0.#", CultureInfo.InvariantCulture) + " %";
}
