using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>
/// Runs guest programs on Bochs: builds boot floppies (as many programs per boot as fit), writes a bochsrc into a temporary
/// directory, starts <c>bochs -q -f bochsrc -rc cont</c> with the term display and stdin from /dev/null, and parses the
/// result stream the guest writes to port 0xE9 (format: docs/BOCHS-RUNNER.md). The guest ends by writing "Shutdown" to port
/// 0x8900, which Bochs reports as a panic with exit code 1: that is the normal end.
/// </summary>
public sealed partial class BochsRunner
{
    public BochsRunner(BochsOptions? options = null) => Options = options ?? new BochsOptions();

    public BochsOptions Options { get; }

    /// <summary>Null when Bochs, its BIOS and VGA BIOS are all there; otherwise one line naming what is missing and the packages.</summary>
    public string? Missing()
    {
        var missing = new List<string>();
        if (ResolveExecutable(Options.Bochs) is null)
        {
            missing.Add($"the '{Options.Bochs}' executable");
        }

        if (!File.Exists(Options.Bios))
        {
            missing.Add($"the BIOS image {Options.Bios}");
        }

        if (!File.Exists(Options.TermPlugin) && Directory.Exists(Path.GetDirectoryName(Options.TermPlugin)))
        {
            missing.Add($"the term display library {Options.TermPlugin}");
        }

        if (!File.Exists(Options.VgaBios))
        {
            missing.Add($"the VGA BIOS image {Options.VgaBios}");
        }

        return missing.Count == 0 ? null : $"Bochs is not usable: missing {string.Join(", ", missing)} (install: apt-get install -y {BochsOptions.Packages}).";
    }

    /// <summary>
    /// The IA32_VMX_* capability MSRs RDMSR returns inside Bochs: 0x480-0x490 always, IA32_VMX_VMFUNC (0x491) when
    /// "enable VM functions" may be 1 and IA32_VMX_PROCBASED_CTLS3 (0x492) when "activate tertiary controls" may be 1
    /// (SDM Vol. 3D A.1: the others do not exist; Bochs reads them as 0 instead of a #GP). An MSR that faults is left out.
    /// </summary>
    public IReadOnlyDictionary<uint, ulong> ReadVmxMsrs()
    {
        var indices = Enumerable.Range(0x480, 0x13).Select(i => (uint)i).ToArray();
        var program = new GuestProgram(GuestMode.Long64, indices.Select(i => (GuestStep)new MsrRead(i)).ToArray());
        var records = Run([program]).Programs[0];
        var msrs = new Dictionary<uint, ulong>();
        for (var i = 0; i < indices.Length; i++)
        {
            if (records[i].Outcome.Kind == InstructionOutcomeKind.Succeed)
            {
                msrs[indices[i]] = records[i].Value;
            }
        }

        var secondary = msrs.GetValueOrDefault(VmxMsr.ProcBasedCtls2) >> 32;
        if ((msrs.GetValueOrDefault(VmxMsr.ProcBasedCtls) >> 63) == 0)
        {
            secondary = 0;
        }

        if ((secondary & (1ul << 13)) == 0)
        {
            msrs.Remove(VmxMsr.VmFunc);
        }

        if ((msrs.GetValueOrDefault(VmxMsr.ProcBasedCtls) & (1ul << (32 + 17))) == 0)
        {
            msrs.Remove(VmxMsr.ProcBasedCtls3);
        }

        return msrs;
    }

    /// <summary>
    /// SoftwareVmx configured as the CPU Bochs emulates: <see cref="VmxProfile.Hardware"/> of its capability MSRs and
    /// MAXPHYADDR (CPUID.80000008H), in one boot.
    /// </summary>
    public VmxProfile ReadProfile(string name = "hardware")
    {
        var msrs = ReadVmxMsrs();
        return VmxProfile.Hardware(msrs, ReadPhysicalAddressWidth(), name);
    }

    /// <summary>CPUID.80000008H:EAX[7:0], the physical-address width VMX checks pointers against.</summary>
    public int ReadPhysicalAddressWidth()
    {
        var record = Run([new GuestProgram(GuestMode.Long64, [new CpuidRead(0x8000_0008)])]).Programs[0][0];
        return (int)(record.Value & 0xFF);
    }

    /// <summary>Runs the programs, as many per boot as fit in an image, and returns every recorded step's outcome.</summary>
    public BochsBatchResult Run(IReadOnlyList<GuestProgram> programs, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(programs);
        if (Missing() is { } missing)
        {
            throw new BochsException(missing);
        }

        var watch = Stopwatch.StartNew();
        var results = new List<IReadOnlyList<InstructionRecord>>(programs.Count);
        var boots = 0;
        var instructions = 0;
        for (var first = 0; first < programs.Count;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = ImageBuilder.Build(programs, first, out var count, out var steps);
            var output = Boot(image, cancellationToken);
            boots++;
            var batch = ResultStream.Parse(output, programs, first, count, steps);
            results.AddRange(batch);
            instructions += steps.Count;
            first += count;
            progress?.Report(first);
        }

        return new BochsBatchResult(results, boots, instructions, watch.Elapsed);
    }

    private static string? ResolveExecutable(string name)
    {
        if (name.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return File.Exists(name) ? name : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
