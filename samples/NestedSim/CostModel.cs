using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using VmcsGen.Nested;

namespace VmcsGen.Samples.NestedSim;

/// <summary>One cost of the model: its default in cycles, what it applies to, and where the number comes from.</summary>
public sealed record CostItem(string Name, double Cycles, string AppliesTo, string Source);

/// <summary>
/// Cycle costs per counted event; modelled cycles per round trip = Σ count × cost. Defaults come from public
/// measurements (see <see cref="Defaults"/> and samples/NestedSim/README.md); override them from a file or the command line.
/// </summary>
public sealed class CostModel
{
    public static IReadOnlyList<CostItem> Defaults { get; } =
    [
        new("hardware-exit", 1000, "each L2 exit reflected to L1 (L2 → L0 exit, L0 → L1 entry)",
            "~1,000 cycles for a single-level VM exit/entry round trip: kvm-unit-tests vmexit 'cpuid' on recent Intel cores (2024)"),
        new("l1-exit", 1000, "each exit of L1 to L0 (a trapped VMREAD/VMWRITE, VMPTRLD, VMCLEAR, VMLAUNCH/VMRESUME) and the entry back",
            "same measurement as hardware-exit"),
        new("vmread", 15, "each VMREAD L0 executes (copy loops, syncs)",
            "7–30 cycles per VMREAD/VMWRITE in a copy loop (KVM 'Optimize VMCS data copying' discussion, 2019; HAXM PR #130, 2018); midpoint"),
        new("vmwrite", 15, "each VMWRITE L0 executes", "as vmread"),
        new("shadowed-access", 15, "each L1 VMREAD/VMWRITE served by the shadow VMCS without an exit", "as vmread: the CPU does the access in VMX non-root operation"),
        new("vmptrld", 100, "each VMPTRLD L0 executes", "estimate: no public per-instruction measurement found; override it"),
        new("vmclear", 100, "each VMCLEAR L0 executes", "estimate: no public per-instruction measurement found; override it"),
        new("full-consistency-check", 300, "each nested entry after a VMWRITE to a vmcs02 execution/exit/entry control",
            "'several hundred cycles' of consistency checks (S. Christopherson, 'KVM: VMX: Reduce VMWRITEs to VMCS controls', 2019)"),
        new("vcpu-switch", 500, "each vmcs01/vmcs02 switch that puts and reloads vCPU state (pre-2019)",
            "'upwards of 1000 cycles' per nested round trip, i.e. two switches (S. Christopherson, 'KVM: nVMX: Optimize nested VM-Entry', 2019)"),
        new("runtime-offset-lookup", 5, "each shadow field copied with a run-time vmcs12 offset lookup (pre-2019)",
            "estimate of a table lookup plus width switch; 'measurable latency' per the 2019 series; tests/VmcsGen.Benchmarks measures the software ratio"),
    ];

    private readonly Dictionary<string, double> _cycles;

    public CostModel(IReadOnlyDictionary<string, double>? overrides = null)
    {
        _cycles = Defaults.ToDictionary(c => c.Name, c => c.Cycles, StringComparer.Ordinal);
        foreach (var (name, value) in overrides ?? new Dictionary<string, double>())
        {
            Set(name, value);
        }
    }

    public IReadOnlyDictionary<string, double> Cycles => _cycles;

    public double this[string name] => _cycles[name];

    /// <summary>Modelled cycles of a span of counted work.</summary>
    public double Of(NestedCounters c) =>
        c.NestedExits * this["hardware-exit"]
        + c.L1Exits * this["l1-exit"]
        + c.VmReads * this["vmread"]
        + c.VmWrites * this["vmwrite"]
        + (c.ShadowedVmreads + c.ShadowedVmwrites) * this["shadowed-access"]
        + c.VmPtrLds * this["vmptrld"]
        + c.VmClears * this["vmclear"]
        + c.FullConsistencyChecks * this["full-consistency-check"]
        + c.VcpuStateSwitches * this["vcpu-switch"]
        + c.RuntimeLookups * this["runtime-offset-lookup"];

    public void Set(string name, double cycles)
    {
        if (!_cycles.ContainsKey(name))
        {
            throw new ArgumentException($"unknown cost '{name}'; known: {string.Join(", ", _cycles.Keys)}");
        }

        if (cycles < 0 || double.IsNaN(cycles) || double.IsInfinity(cycles))
        {
            throw new ArgumentException($"cost '{name}' must be a non-negative number of cycles, got {cycles.ToString(CultureInfo.InvariantCulture)}");
        }

        _cycles[name] = cycles;
    }

    /// <summary>Reads <c>name cycles</c> lines (<c>#</c> comments) into this model.</summary>
    public void Load(string path)
    {
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].Split('#')[0].Trim();
            if (text.Length == 0)
            {
                continue;
            }

            var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var cycles))
            {
                throw new FormatException($"{path}({i + 1},1): error: expected 'name cycles', got '{text}'");
            }

            try
            {
                Set(parts[0], cycles);
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"{path}({i + 1},1): error: {e.Message}");
            }
        }
    }
}
