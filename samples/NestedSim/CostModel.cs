using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using VmcsGen.Nested;
using VmcsGen.Tracing;

namespace VmcsGen.Samples.NestedSim;

/// <summary>Where a cost term's number comes from.</summary>
public enum CostSourceKind
{
    /// <summary>A figure stated in a public posting or commit (cited).</summary>
    Published,

    /// <summary>Computed from published figures (the computation is given).</summary>
    Derived,

    /// <summary>No public figure: a reasoned estimate, with the range it may take.</summary>
    Estimate,
}

/// <summary>What one unit of a cost term is.</summary>
public enum CostBasis
{
    /// <summary>Counted by the engine (an instruction, a check): varies with the classification.</summary>
    Counted,

    /// <summary>Fixed work of each nested round trip (L2 exit → L1 → L2 entry), the same for every classification.</summary>
    PerRoundTrip,

    /// <summary>Fixed work of a workload event (e.g. L1 returning to its userspace), the same for every classification.</summary>
    PerEvent,
}

/// <summary>
/// One term of the cost model: its prior value (the cited figure or estimate), the range it may take, what it applies to
/// and where the number comes from. <see cref="CostModel"/> holds the values in use (prior, calibrated, or overridden).
/// </summary>
public sealed record CostTerm(string Name, double Prior, double Min, double Max, CostBasis Basis, string AppliesTo, CostSourceKind Kind, string Source)
{
    /// <summary>Whether calibration may move it (its range is not a single point).</summary>
    public bool Uncertain => Max > Min;
}

/// <summary>
/// Modelled cycles of a nested round trip = Σ over terms of (units per round trip × cycles per unit). The units come from
/// the engine's counters (<see cref="NestedCounters"/>) and the workload's events; the cycles from this model. It is one
/// global model: workloads differ only by what they do. The default values are the calibrated set shipped in
/// <c>Costs/default.costs</c> (see samples/NestedSim/README.md, "Cost model"); <see cref="Terms"/> lists the priors.
/// </summary>
public sealed class CostModel
{
    public const string UserspaceEvent = "l1-userspace";
    public const string InjectEvent = "l1-inject";

    public static IReadOnlyList<CostTerm> Terms { get; } =
    [
        new("hardware-exit", 1200, 1000, 1800, CostBasis.PerRoundTrip,
            "each L2 exit reflected to L1: the hardware VM exit of L2 to L0 and L0's VM entry into L1",
            CostSourceKind.Published,
            "single-level VM exit + entry of a simple exit: cpuid 1,018–1,027 cycles (S. Christopherson, kvm list, 2024), median 1,098 (B. Kauer); " +
                "vmcall 1,529–1,800 on Skylake servers (kvm list, 2019-06-12 and 2020-03-13)"),
        new("l0-nested-exit", 2500, 1500, 4000, CostBasis.PerRoundTrip,
            "L0's nested VM-exit path besides VMCS accesses: nested_vmx_vmexit bookkeeping, EFER/CR0/CR4 setters, CR3 and MMU context switch, APIC page, " +
                "MSR autoload",
            CostSourceKind.Estimate,
            "estimate; its MMU part alone is ~1,000 cycles ('nested MMU context switch on nested vmexit', kvm list, 2018-08-02)"),
        new("l0-nested-entry", 2500, 1500, 4000, CostBasis.PerRoundTrip,
            "L0's nested VM-entry path besides VMCS accesses: nested_vmx_run, software consistency checks of vmcs12, vmcs12 pages, MSR-bitmap merge, " +
                "nested EPT MMU switch",
            CostSourceKind.Estimate,
            "estimate; the MMU switch is ~1,000 cycles as on exit; the MSR-bitmap merge is cheap since commit c992384bde84 (it was ~4,000)"),
        new("l1-exit-handling", 2000, 1000, 3500, CostBasis.PerRoundTrip,
            "L1 KVM's own work per L2 exit, besides its VMREAD/VMWRITEs: exit dispatch, the emulation, vcpu_enter_guest, run under nested paging",
            CostSourceKind.Estimate,
            "estimate: a few times the ~500 cycles of KVM's handling in a single-level round trip (1,100 cycles minus the ~600 of the hardware transitions)"),
        new("mitigations", 750, 0, 1200, CostBasis.PerRoundTrip,
            "speculation mitigations per nested round trip (retpolines, RSB stuffing)",
            CostSourceKind.Published,
            "~750 cycles per nested round trip on Haswell (anti-retpoline series cover letter, kvm list, 2020-05-02); 0 on CPUs that need none"),
        new(UserspaceEvent, 25000, 10000, 45000, CostBasis.PerEvent,
            "each time L1 KVM returns to its userspace VMM for an L2 exit and re-enters (KVM_RUN exit, QEMU's handler, KVM_RUN), as run nested",
            CostSourceKind.Estimate,
            "estimate: ~5,000 cycles single-level, several times that nested (L1's syscalls, user-return MSRs and vCPU put/load exit to L0)"),
        new(InjectEvent, 1000, 500, 2500, CostBasis.PerEvent,
            "each L2 exit after which L1 KVM delivers an interrupt to L2 (KVM_REQ_EVENT: kvm_check_and_inject_events, PPR update, PIR → RVI), " +
                "besides its VMCS accesses",
            CostSourceKind.Estimate,
            "estimate, not fitted: a few hundred cycles single-level, more under nested paging. Added after the published vmexit table showed the interrupt " +
                "tests ~1,500 cycles above cpuid; see the README"),
        new("l1-exit", 1200, 1000, 1800, CostBasis.Counted,
            "each exit of L1 to L0 (VMRESUME, a trapped VMREAD/VMWRITE, VMPTRLD, VMCLEAR) and the entry back, besides what L0 counts",
            CostSourceKind.Published, "as hardware-exit: one VM exit and entry with a simple handler"),
        new("vmread", 8, 5, 30, CostBasis.Counted, "each VMREAD L0 executes (copy loops, syncs, emulation)",
            CostSourceKind.Derived,
            "~200 cycles for the 30+ VMREADs of the rare set (≈6.5 each) and ~100 for the ~10 read-only fields (≈10 each), 'KVM: nVMX: " +
                "Optimize VMCS data copying' (2019-05-07); ~30 in isolation (anti-retpoline series, 2020) is the top of the range"),
        new("vmwrite", 8, 5, 30, CostBasis.Counted, "each VMWRITE L0 executes", CostSourceKind.Derived, "as vmread"),
        new("shadowed-access", 30, 8, 60, CostBasis.Counted,
            "each L1 VMREAD/VMWRITE served by the shadow VMCS without an exit",
            CostSourceKind.Estimate, "estimate: a VMREAD in isolation is ~30 cycles (anti-retpoline series, 2020); in non-root operation it also checks " +
                "the bitmap"),
        new("vmptrld", 100, 50, 400, CostBasis.Counted, "each VMPTRLD L0 executes", CostSourceKind.Estimate,
            "estimate: no public per-instruction figure ('switching VMCS pointers is expensive')"),
        new("vmclear", 100, 50, 400, CostBasis.Counted, "each VMCLEAR L0 executes", CostSourceKind.Estimate, "as vmptrld"),
        new("full-consistency-check", 400, 200, 800, CostBasis.Counted,
            "each nested entry after a VMWRITE to a vmcs02 execution/exit/entry control",
            CostSourceKind.Published,
            "'several hundred cycles' ('KVM: VMX: Reduce VMWRITEs to VMCS controls', 2019-05-07); toggling the timer control 'more than doubles the latency " +
                "of the next VM-Entry'"),
        new("vcpu-switch", 500, 300, 800, CostBasis.Counted,
            "each vmcs01/vmcs02 switch that puts and reloads the vCPU's state (pre-2019)",
            CostSourceKind.Published,
            "'several hundred cycles' per switch, 'upwards of 1000 cycles' per nested round trip of two switches ('KVM: nVMX: Optimize nested VM-Entry', " +
                "2019-05-07)"),
        new("runtime-offset-lookup", 3, 1.5, 6, CostBasis.Counted,
            "each shadow field copied with a run-time vmcs12 offset lookup (pre-2019)",
            CostSourceKind.Derived,
            "'~100 cycles' per copy direction for ~34 fields ('KVM: nVMX: Track vmcs12 offsets for shadowed VMCS fields', 2019-05-07) ≈ 3 per field"),
    ];

    private static readonly Dictionary<string, CostTerm> ByName = Terms.ToDictionary(t => t.Name, StringComparer.Ordinal);

    private readonly Dictionary<string, double> _cycles;

    /// <summary>A model at the priors of <see cref="Terms"/>, with overrides.</summary>
    public CostModel(IReadOnlyDictionary<string, double>? overrides = null)
    {
        _cycles = Terms.ToDictionary(c => c.Name, c => c.Prior, StringComparer.Ordinal);
        foreach (var (name, value) in overrides ?? new Dictionary<string, double>())
        {
            Set(name, value);
        }
    }

    /// <summary>The calibrated default shipped with NestedSim (Costs/default.costs beside the executable).</summary>
    public static CostModel Default()
    {
        var model = new CostModel();
        var path = DefaultCostsPath;
        if (File.Exists(path))
        {
            model.Load(path);
        }

        return model;
    }

    public static string DefaultCostsPath => Path.Combine(AppContext.BaseDirectory, "Costs", "default.costs");

    public static CostTerm Term(string name) =>
        ByName.TryGetValue(name, out var term) ? term : throw new ArgumentException($"unknown cost '{name}'; known: {string.Join(", ", ByName.Keys)}");

    public IReadOnlyDictionary<string, double> Cycles => _cycles;

    public double this[string name] => _cycles[name];

    /// <summary>Units of each term in a span of counted work with its events (e.g. one strategy's whole run).</summary>
    public static Dictionary<string, double> Units(NestedCounters c, IReadOnlyDictionary<string, long>? events = null) => new(StringComparer.Ordinal)
    {
        ["hardware-exit"] = c.NestedExits,
        ["l0-nested-exit"] = c.NestedExits,
        ["l0-nested-entry"] = c.NestedEntries,
        ["l1-exit-handling"] = c.NestedExits,
        ["mitigations"] = c.NestedExits,
        [UserspaceEvent] = events?.GetValueOrDefault(UserspaceEvent) ?? 0,
        [InjectEvent] = events?.GetValueOrDefault(InjectEvent) ?? 0,
        ["l1-exit"] = c.L1Exits,
        ["vmread"] = c.VmReads,
        ["vmwrite"] = c.VmWrites,
        ["shadowed-access"] = c.ShadowedVmreads + c.ShadowedVmwrites,
        ["vmptrld"] = c.VmPtrLds,
        ["vmclear"] = c.VmClears,
        ["full-consistency-check"] = c.FullConsistencyChecks,
        ["vcpu-switch"] = c.VcpuStateSwitches,
        ["runtime-offset-lookup"] = c.RuntimeLookups,
    };

    /// <summary>Modelled cycles of the given units, split into the fixed part (per round trip and per event) and the counted part.</summary>
    public CostBreakdown Of(IReadOnlyDictionary<string, double> units)
    {
        double fixedPart = 0, counted = 0;
        var byTerm = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var term in Terms)
        {
            var cycles = units.GetValueOrDefault(term.Name) * _cycles[term.Name];
            byTerm[term.Name] = cycles;
            if (term.Basis == CostBasis.Counted)
            {
                counted += cycles;
            }
            else
            {
                fixedPart += cycles;
            }
        }

        return new CostBreakdown(fixedPart, counted, byTerm);
    }

    public CostBreakdown Of(NestedCounters c, IReadOnlyDictionary<string, long>? events = null) => Of(Units(c, events));

    public void Set(string name, double cycles)
    {
        var term = Term(name);
        if (cycles < 0 || double.IsNaN(cycles) || double.IsInfinity(cycles))
        {
            throw new ArgumentException($"cost '{term.Name}' must be a non-negative number of cycles, got {cycles.ToString(CultureInfo.InvariantCulture)}");
        }

        _cycles[name] = cycles;
    }

    /// <summary>Reads <c>name cycles</c> lines (<c>#</c> comments) into this model; a bad line is an error naming file and line.</summary>
    public void Load(string path)
    {
        var text = LineReader.ReadFile(path, reason => $"--costs {path}: cannot read the file ({reason})");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in new LineReader(text, path).Lines())
        {
            var parts = line.Tokens;
            if (parts.Count != 2 || !double.TryParse(parts[1].Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var cycles))
            {
                throw new FormatException(line.Describe(1, $"expected 'name cycles', got '{Truncate(line.Content.Trim())}'"));
            }

            var name = parts[0].Text;
            if (seen.TryGetValue(name, out var first))
            {
                throw new FormatException(line.Describe(1, $"cost '{name}' is set twice (first on line {first})"));
            }

            seen[name] = line.Number;
            try
            {
                Set(name, cycles);
            }
            catch (ArgumentException e)
            {
                throw new FormatException(line.Describe(1, e.Message));
            }
        }
    }

    /// <summary>This model as a costs file that <see cref="Load"/> reads back.</summary>
    public string ToFileText(string header)
    {
        var text = new System.Text.StringBuilder();
        foreach (var line in header.Split('\n'))
        {
            text.Append("# ").AppendLine(line.TrimEnd());
        }

        foreach (var term in Terms)
        {
            text.Append(term.Name.PadRight(24)).Append(' ')
                .Append(Math.Round(_cycles[term.Name], 1).ToString("0.#", CultureInfo.InvariantCulture))
                .AppendLine();
        }

        return text.ToString();
    }

    internal static string Truncate(string text) => LineReader.Shorten(text);
}

/// <summary>Modelled cycles split into the fixed work of the transitions and the counted VMCS work, with each term's share.</summary>
public sealed record CostBreakdown(double Fixed, double Counted, IReadOnlyDictionary<string, double> ByTerm)
{
    public double Total => Fixed + Counted;
}
