using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using VmcsGen.Bochs;
using VmcsGen.Software;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.Samples.BochsVmx;

/// <summary>A usage error of the execution verbs: one line, exit status 2.</summary>
internal sealed class ExecutionUsageException(string message) : Exception(message);

/// <summary>
/// The verbs that run VmcsGen's generated code on Bochs (issue 21 item 4): <c>shadow --manifest NAME</c> (4a),
/// <c>vmcs02 --workload NAME</c> (4b), <c>launch</c> (4c). Each prints a table, or with <c>--format json</c> a JSON
/// document; exit 0 when everything agrees, 1 on a disagreement, 2 on bad usage or when Bochs is unusable.
/// </summary>
public static class ExecutionVerbs
{
    public static readonly string[] Verbs = ["shadow", "vmcs02", "launch"];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static bool Handles(string verb) => Verbs.Contains(verb);

    public static int Run(string verb, string[] args)
    {
        try
        {
            var options = Parse(args);
            return verb switch
            {
                "shadow" => Shadow(options),
                "vmcs02" => Vmcs02(options),
                _ => Launch(options),
            };
        }
        catch (ExecutionUsageException e)
        {
            Console.Error.WriteLine($"BochsVmx {verb}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is BochsException or WorkloadFormatException)
        {
            Console.Error.WriteLine($"BochsVmx {verb}: {e.Message}");
            return 2;
        }
        catch (InvalidOperationException e)
        {
            // The engine refused an L1 step of the workload (its VMPTRLD/VMLAUNCH/VMRESUME) or a copy loop failed.
            Console.Error.WriteLine($"BochsVmx {verb}: {e.Message}");
            return 1;
        }
    }

    /// <summary>Every generated layout this program has: kvm.vmcs (the runtime) and the other shipped manifests (compiled into NestedSim).</summary>
    public static IReadOnlyList<LayoutHandle> Layouts { get; } = LayoutHandle.Discover(typeof(LayoutHandle).Assembly, typeof(Simulator).Assembly);

    /// <summary>A layout by manifest name (<c>kvm</c>, <c>kvm.vmcs</c>, <c>fields/kvm.vmcs</c>) or layout name.</summary>
    public static LayoutHandle FindLayout(string name)
    {
        var file = Path.GetFileName(name);
        var match = Layouts.FirstOrDefault(l => string.Equals(l.ManifestFile, file, StringComparison.OrdinalIgnoreCase)
            || string.Equals(Path.GetFileNameWithoutExtension(l.ManifestFile), file, StringComparison.OrdinalIgnoreCase)
            || string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new ExecutionUsageException(
            $"--manifest: no generated layout '{name}' (have: {string.Join(", ", Layouts.Select(l => Path.GetFileNameWithoutExtension(l.ManifestFile)))})");
    }

    /// <summary>Calls a static generic method of <paramref name="type"/> with the layout's TLayout and TControls.</summary>
    public static TResult CallWithLayout<TResult>(Type type, LayoutHandle layout, string method, params object?[] args)
    {
        var types = layout.GetType().GetGenericArguments();
        var generic = type.GetMethod(method, BindingFlags.Public | BindingFlags.Static) ?? throw new MissingMethodException(type.Name, method);
        try
        {
            return (TResult)generic.MakeGenericMethod(types).Invoke(null, args)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    // ---- shadow (4a) ---------------------------------------------------------------------------------------------------

    private static int Shadow(Dictionary<string, string> options)
    {
        Only(options, "manifest", "format");
        var json = Json(options);
        var layout = FindLayout(options.GetValueOrDefault("manifest") ?? throw new ExecutionUsageException("--manifest NAME is required"));
        var runner = new BochsRunner();
        var profile = runner.ReadProfile();
        var report = CallWithLayout<ShadowReport>(typeof(ShadowCheck), layout, nameof(ShadowCheck.Run), runner, profile, null);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                manifest = layout.ManifestFile,
                fields = report.Fields,
                asManifest = report.AsManifest,
                mismatches = report.Mismatches.Select(m => new
                {
                    field = m.Field.Name,
                    encoding = $"0x{m.Field.Encoding:X4}",
                    access = m.Write ? "VMWRITE" : "VMREAD",
                    manifest = m.ManifestShadows ? "shadow" : "exit",
                    bochs = m.Observed,
                    reason = m.Mismatch,
                }),
            }, Indented));
        }
        else
        {
            Console.WriteLine($"{layout.ManifestFile} on Bochs {runner.Options.CpuModel}: L1 in VMX non-root operation with the generated bitmaps and a " +
                $"shadow VMCS filled by the generated copy loop ({report.ShadowWrites} VMWRITEs)");
            Console.WriteLine($"{"field",-34} {"encoding",-8} {"class",-10} {"VMREAD",-28} {"VMWRITE",-28} ok");
            foreach (var group in report.Accesses.GroupBy(a => a.Field.Encoding))
            {
                var read = group.First(a => !a.Write);
                var write = group.First(a => a.Write);
                Console.WriteLine($"{Cut(read.Field.Name, 34),-34} 0x{read.Field.Encoding:X4}   {ClassName(read.Field.Class),-10} " +
                    $"{Cut(read.Observed, 28),-28} {Cut(write.Observed, 28),-28} {(read.AsManifest && write.AsManifest ? "yes" : "NO")}");
            }

            foreach (var m in report.Mismatches)
            {
                Console.WriteLine($"mismatch: {m.Field.Name} {(m.Write ? "VMWRITE" : "VMREAD")}: {m.Mismatch}");
            }

            Console.WriteLine($"{report.Fields} fields, {report.AsManifest} as the manifest says, {report.Mismatches.Count} mismatching accesses " +
                $"({report.Boots} boots, {report.Elapsed.TotalSeconds:0.0} s)");
        }

        return report.Mismatches.Count == 0 ? 0 : 1;
    }

    private static string ClassName(FieldClass c) => c switch
    {
        FieldClass.ShadowRw => "shadow-rw",
        FieldClass.ShadowRo => "shadow-ro",
        FieldClass.RareSync => "rare-sync",
        FieldClass.NoSync => "no-sync",
        _ => "sync",
    };

    private static string Cut(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";

    // ---- options -------------------------------------------------------------------------------------------------------

    private static Dictionary<string, string> Parse(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2)
            {
                throw new ExecutionUsageException($"unexpected argument '{args[i]}'");
            }

            if (i + 1 >= args.Length)
            {
                throw new ExecutionUsageException($"{args[i]} needs a value");
            }

            options[args[i][2..]] = args[++i];
        }

        return options;
    }

    private static void Only(Dictionary<string, string> options, params string[] known)
    {
        foreach (var name in options.Keys.Where(k => !known.Contains(k)))
        {
            throw new ExecutionUsageException($"unknown option --{name} (this verb takes {string.Join(", ", known.Select(k => "--" + k))})");
        }
    }

    private static bool Json(Dictionary<string, string> options) => options.GetValueOrDefault("format", "table") switch
    {
        "json" => true,
        "table" => false,
        var other => throw new ExecutionUsageException($"--format: '{other}' is not table or json"),
    };

    private static int Int(Dictionary<string, string> options, string name, int fallback, int minimum) =>
        !options.TryGetValue(name, out var v) ? fallback
        : int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= minimum ? n
        : throw new ExecutionUsageException($"--{name}: '{v}' is not an integer >= {minimum}");

    // ---- vmcs02 (4b) ---------------------------------------------------------------------------------------------------

    /// <summary>vmcs02 of a workload's entries, as written and with a valid L2 state (<see cref="ValidL2State"/>), on Bochs and SoftwareVmx.</summary>
    public static IReadOnlyList<Vmcs02Result> Vmcs02Results(BochsRunner runner, VmxProfile profile, LayoutHandle layout, Workload workload, int entries,
        int seed)
    {
        var names = Simulator.FieldNames(Layouts);
        Simulator.Validate(workload, names);
        // A workload that never exits to L1 (per-iteration 0, no exit weights) has only its VMLAUNCH.
        var trace = workload.PerIteration == 0 || workload.Exits.Sum(e => e.Weight) == 0 ? [] : Simulator.Trace(workload, names, entries - 1, seed);
        var all = new List<Vmcs02Entry>();
        all.AddRange(CallWithLayout<List<Vmcs02Entry>>(typeof(Vmcs02Workload), layout, nameof(Vmcs02Workload.Collect), workload, names, trace, null,
            "as written:"));
        all.AddRange(CallWithLayout<List<Vmcs02Entry>>(typeof(Vmcs02Workload), layout, nameof(Vmcs02Workload.Collect), workload, names, trace,
            ValidL2State.For(profile.Capabilities), "valid L2:"));
        return Vmcs02Check.Run(runner, profile, all);
    }

    private static int Vmcs02(Dictionary<string, string> options)
    {
        Only(options, "workload", "manifest", "entries", "seed", "format");
        var json = Json(options);
        var layout = FindLayout(options.GetValueOrDefault("manifest", "kvm"));
        var entries = Int(options, "entries", 8, 1);
        var seed = Int(options, "seed", 1, 0);
        var name = options.GetValueOrDefault("workload") ?? throw new ExecutionUsageException("--workload NAME is required");
        var workload = Vmcs02Workload.Load(name);
        Simulator.Validate(workload, Simulator.FieldNames(Layouts)); // before Bochs boots: a bad field is a usage error

        var runner = new BochsRunner();
        var profile = runner.ReadProfile();
        var results = Vmcs02Results(runner, profile, layout, workload, entries, seed);
        var disagreements = results.Where(r => r.Disagreement is not null).ToList();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                workload = workload.Name,
                manifest = layout.ManifestFile,
                entries = results.Count,
                accepted = results.Count(r => r.Accepted),
                disagreements = disagreements.Select(d => new { entry = d.Entry.Label, reason = d.Disagreement }),
                results = results.Select(r => new
                {
                    entry = r.Entry.Label,
                    bochs = VmcsImage.Describe(r.Bochs),
                    guestRip = r.Accepted ? r.GuestRip : (ulong?)null,
                    softwareVmx = VmcsImage.Describe(r.Software),
                    rule = r.Software.Rule,
                }),
            }, Indented));
        }
        else
        {
            Console.WriteLine($"{workload.Name} on {layout.ManifestFile}: vmcs02 after each nested entry on SoftwareVmx, " +
                $"loaded into Bochs {runner.Options.CpuModel} and VMLAUNCHed (host state the runner's)");
            Console.WriteLine($"{"entry",-26} {"Bochs",-28} {"L2 exit RIP",-20} {"SoftwareVmx",-22} agree");
            foreach (var r in results)
            {
                Console.WriteLine($"{Cut(r.Entry.Label, 26),-26} {Cut(VmcsImage.Describe(r.Bochs), 28),-28} " +
                    $"{(r.Accepted ? "0x" + r.GuestRip.ToString("X", CultureInfo.InvariantCulture) : "-"),-20} {Cut(VmcsImage.Describe(r.Software), 22),-22} " +
                    $"{(r.Disagreement is null ? "yes" : "NO")}");
            }

            foreach (var r in results.Where(r => r.Software.Rule is not null).GroupBy(r => r.Software.Rule).Select(g => g.First()))
            {
                Console.WriteLine($"SoftwareVmx rule ({r.Entry.Label}): {r.Software.Rule}");
            }

            var fieldNames = layout.Fields.Where(f => !f.IsHigh).ToDictionary(f => f.Encoding, f => f.Name);
            foreach (var d in disagreements)
            {
                // What L1 and the CPU changed in vmcs02 since the entry before, to find the field Bochs rejects.
                var index = results.ToList().IndexOf(d);
                var changed = index == 0 ? [] : d.Entry.Fields.Except(results[index - 1].Entry.Fields)
                    .Select(f => $"{fieldNames.GetValueOrDefault(f.Encoding, $"0x{f.Encoding:X4}")}=0x{f.Value:X}").ToList();
                Console.WriteLine($"disagreement: {d.Entry.Label}: " +
                    $"{d.Disagreement}{(changed.Count > 0 ? $" (changed since the entry before: {string.Join(", ", changed)})" : "")}");
            }

            Console.WriteLine($"{results.Count} entries, {results.Count(r => r.Accepted)} accepted by Bochs (L2 ran to a VM exit), " +
                $"{disagreements.Count} disagreements");
        }

        return disagreements.Count == 0 ? 0 : 1;
    }

    // ---- launch (4c) ---------------------------------------------------------------------------------------------------

    private static int Launch(Dictionary<string, string> options)
    {
        Only(options, "format");
        var json = Json(options);
        var runner = new BochsRunner();
        var profile = runner.ReadProfile();
        var report = LaunchCheck.Run(runner, profile);
        var disagreements = report.Disagreements;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                exitReason = report.ExitReason,
                guestRip = report.GuestRip,
                qualification = report.Qualification,
                instructionLength = report.InstructionLength,
                fieldsLoaded = report.Loaded,
                refused = report.Refused.Select(r => r.Name),
                softwareVmx = VmcsImage.Describe(report.Software),
                disagreements,
            }, Indented));
        }
        else
        {
            Console.WriteLine("KvmNested's vmcs12 (generated Vmcs12, built for Bochs' capabilities) loaded field by field into a Bochs VMCS: " +
                $"{report.Loaded} fields, host state the runner's");
            if (report.Refused.Count > 0)
            {
                Console.WriteLine($"  not on this CPU (VMWRITE refused): {string.Join(", ", report.Refused.Select(r => r.Name))}");
            }

            Console.WriteLine($"{"",-22} {"Bochs",-20} expected");
            Console.WriteLine($"{"exit reason",-22} {report.ExitReason,-20} 10 (CPUID)");
            Console.WriteLine($"{"qualification",-22} {"0x" + report.Qualification.ToString("X", CultureInfo.InvariantCulture),-20} 0x0");
            Console.WriteLine($"{"guest RIP",-22} {"0x" + report.GuestRip.ToString("X", CultureInfo.InvariantCulture),-20} 0x{report.ExpectedRip:X} " +
                "(L2's cpuid)");
            Console.WriteLine($"{"instruction length",-22} {report.InstructionLength,-20} 2");
            Console.WriteLine($"{"SoftwareVmx VMLAUNCH",-22} {VmcsImage.Describe(report.Software),-20} VMsucceed (enters L2)");
            foreach (var d in disagreements)
            {
                Console.WriteLine("disagreement: " + d);
            }

            Console.WriteLine(disagreements.Count == 0 ? "agrees: L2 ran CPUID and exited as KvmNested asserts" : $"{disagreements.Count} disagreement(s)");
        }

        return disagreements.Count == 0 ? 0 : 1;
    }
}
