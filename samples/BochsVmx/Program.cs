using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using VmcsGen.Bochs;
using VmcsGen.Samples.BochsVmx;
using VmcsGen.Software;

// BochsVmx: SoftwareVmx (and VmcsGen's generated code) held to Bochs, an executing VMX implementation.
// Verbs: diff, msrs, shadow, vmcs02, launch. Exit status: 0 everything agrees, 1 a disagreement, 2 bad usage or Bochs unusable.
try
{
    var verb = args.Length > 0 ? args[0] : "";
    if (VmcsGen.Samples.BochsVmx.ExecutionVerbs.Handles(verb))
    {
        return VmcsGen.Samples.BochsVmx.ExecutionVerbs.Run(verb, args[1..]); // shadow, vmcs02, launch: ExecutionVerbs.cs
    }

    var options = Options.Parse(args.Skip(1).ToArray());
    return verb switch
    {
        "diff" => Diff(options),
        "msrs" => Msrs(options),
        _ => throw new UsageException(verb.Length == 0 ? "missing verb (diff, msrs, shadow, vmcs02, launch)" : $"unknown verb '{verb}' (diff, msrs, shadow, " +
            "vmcs02, launch)"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine("BochsVmx: " + e.Message);
    return 2;
}
catch (BochsException e)
{
    Console.Error.WriteLine("BochsVmx: " + e.Message);
    return 2;
}

static int Msrs(Options options)
{
    options.Only("format");
    var runner = new BochsRunner();
    var profile = runner.ReadProfile();
    if (options.Json)
    {
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            cpu = runner.Options.CpuModel,
            revision = profile.Revision,
            physicalAddressWidth = profile.PhysicalAddressWidth,
            fields = profile.Catalog.Count,
            msrs = profile.Msrs.OrderBy(p => p.Key).ToDictionary(p => $"0x{p.Key:X}", p => $"0x{p.Value:X16}"),
        }, Options.Indented));
        return 0;
    }

    Console.WriteLine($"Bochs {runner.Options.CpuModel}: VMCS revision 0x{profile.Revision:X}, MAXPHYADDR {profile.PhysicalAddressWidth}, " +
        $"{profile.Catalog.Count} VMCS fields");
    foreach (var (index, value) in profile.Msrs.OrderBy(p => p.Key))
    {
        Console.WriteLine($"  0x{index:X3}  0x{value:X16}");
    }

    return 0;
}

static int Diff(Options options)
{
    options.Only("seed", "programs", "profile", "format", "show", "first", "timeout", "guests");
    var guests = options.Int("guests", 0, 0);
    if (guests > 100)
    {
        throw new UsageException($"--guests: {guests} is not a percentage (0-100)");
    }

    var first = options.Int("first", 0, 0);
    var timeout = options.Int("timeout", 120, 1);
    var show = options.Int("show", 5, 0);
    var seed = options.Int("seed", 1, int.MinValue);
    var count = options.Int("programs", 1000, 1);
    var profileName = options.Text("profile", "hardware");
    if (profileName is not ("hardware" or "kvm"))
    {
        throw new UsageException($"--profile: '{profileName}' is not hardware or kvm");
    }

    var runner = new BochsRunner(new BochsOptions { Timeout = TimeSpan.FromSeconds(timeout) });
    if (runner.Missing() is { } missing)
    {
        throw new BochsException(missing);
    }

    var hardware = runner.ReadProfile();
    var software = profileName == "kvm" ? VmxProfile.Kvm : hardware;
    var run = new DifferentialRun(runner, software, new ProgramGenerator(hardware, guests / 100.0));
    var progress = new Progress<int>(done => Console.Error.Write($"\rBochs: {done}/{count} programs"));
    var report = run.Run(seed, count, shrink: true, progress, first: first);
    Console.Error.WriteLine();

    if (options.Json)
    {
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            seed,
            profile = profileName,
            programs = report.Programs,
            instructions = report.Instructions,
            boots = report.Boots,
            seconds = Math.Round(report.Elapsed.TotalSeconds, 1),
            divergences = report.Divergences.Count,
            deviations = report.Deviations,
            firstDivergence = report.FirstMinimalDivergence is { } d ? new
            {
                program = d.Index,
                mode = d.Program.Mode.ToString(),
                step = d.Step,
                instruction = d.Instruction.ToString(),
                bochs = Divergence.Text(d.Bochs),
                software = Divergence.Text(d.Software),
                minimalProgram = d.Program.Steps.Select(s => s.ToString()).ToArray(),
            } : null,
        }, Options.Indented));
    }
    else
    {
        Console.WriteLine($"SoftwareVmx ({profileName} profile) vs Bochs {runner.Options.CpuModel}, seed {seed}");
        Console.WriteLine();
        Console.WriteLine($"  {"programs",-28}{report.Programs,10:N0}");
        Console.WriteLine($"  {"instructions on Bochs",-28}{report.Instructions,10:N0}");
        Console.WriteLine($"  {"boots",-28}{report.Boots,10:N0}");
        Console.WriteLine($"  {"seconds",-28}{report.Elapsed.TotalSeconds,10:N1}");
        Console.WriteLine($"  {"divergences (unexplained)",-28}{report.Divergences.Count,10:N0}");
        foreach (var (id, n) in report.Deviations)
        {
            Console.WriteLine($"  {"deviation " + id,-28}{n,10:N0}");
        }

        foreach (var d in report.Divergences.Take(show))
        {
            Console.WriteLine();
            Console.WriteLine($"  divergence: {d}");
        }

        if (report.FirstMinimalDivergence is { } m)
        {
            Console.WriteLine();
            Console.WriteLine($"  first divergence, shrunk to {m.Program.Steps.Count} steps ({m.Program.Mode}):");
            for (var i = 0; i < m.Program.Steps.Count; i++)
            {
                Console.WriteLine($"    {i,3}  {m.Program.Steps[i]}");
            }

            Console.WriteLine($"  step {m.Step}: Bochs {Divergence.Text(m.Bochs)}; SoftwareVmx {Divergence.Text(m.Software)}");
        }
    }

    return report.Divergences.Count == 0 ? 0 : 1;
}
