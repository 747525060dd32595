using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>Where Bochs and its firmware are, and how long one boot may take.</summary>
public sealed record BochsOptions
{
    /// <summary>The emulator: a path, or a name looked up on PATH.</summary>
    public string Bochs { get; init; } = "bochs";

    public string Bios { get; init; } = "/usr/share/bochs/BIOS-bochs-latest";

    public string VgaBios { get; init; } = "/usr/share/vgabios/vgabios.bin";

    /// <summary>The CPU model (<c>bochs -help cpu</c> lists them); corei7_skylake_x has VMX with VMCS shadowing.</summary>
    public string CpuModel { get; init; } = "corei7_skylake_x";

    /// <summary>Per boot; a guest that has not shut down by then is killed and the run fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Emulated instructions per emulated second. With <c>clock: sync=none</c> the BIOS's timed waits cost this many
    /// instructions per second they wait: 1 M makes a boot about five times faster than 50 M and changes nothing the
    /// programs see (they run with interrupts off).
    /// </summary>
    public int InstructionsPerSecond { get; init; } = 1_000_000;

    /// <summary>The headless display library's plugin (Debian package bochs-term); Bochs runs without a window through it.</summary>
    public string TermPlugin { get; init; } = "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so";

    /// <summary>The Debian packages that provide the emulator, its term display and the two firmware images.</summary>
    public const string Packages = "bochs bochs-term bochsbios vgabios";
}

/// <summary>Bochs is not usable: a file is missing, the guest misbehaved, or a boot timed out. The message is one line saying what.</summary>
public sealed class BochsException(string message) : Exception(message);

/// <summary>One recorded step's result: the outcome as <see cref="SoftwareVmx"/> reports it, with what Bochs returned raw.</summary>
public sealed record InstructionRecord(int Program, int Step, InstructionOutcome Outcome, ulong Rflags, ulong Value, ulong Auxiliary)
{
    /// <summary>
    /// The error number of a VMfailValid in an L1 guest: the SDM stores it in the working VMCS, which the guest cannot read
    /// (its VMREAD goes to the shadow VMCS or exits), so only the outcome's kind is known.
    /// </summary>
    public const uint ErrorNotReadable = 0xFFFF_FFFF;

    /// <summary>For CPUID: EDX:ECX; after VMfailValid: the VM-instruction error field.</summary>
    public ulong Error => Auxiliary;
}

/// <summary>The records of one batch, by program (in the order given) and recorded step.</summary>
public sealed record BochsBatchResult(IReadOnlyList<IReadOnlyList<InstructionRecord>> Programs, int Boots, int Instructions, TimeSpan Elapsed);

/// <summary>
/// Runs guest programs on Bochs: builds boot floppies (as many programs per boot as fit), writes a bochsrc into a temporary
/// directory, starts <c>bochs -q -f bochsrc -rc cont</c> with the term display and stdin from /dev/null, and parses the
/// result stream the guest writes to port 0xE9 (format: docs/BOCHS-RUNNER.md). The guest ends by writing "Shutdown" to port
/// 0x8900, which Bochs reports as a panic with exit code 1: that is the normal end.
/// </summary>
public sealed class BochsRunner
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

    /// <summary>
    /// Boots one floppy image and returns what the guest wrote to port 0xE9. Throws <see cref="BochsException"/> when the
    /// guest does not shut down in time or Bochs fails before the guest asked it to stop.
    /// </summary>
    public string Boot(byte[] floppy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(floppy);
        if (Missing() is { } missing)
        {
            throw new BochsException(missing);
        }

        if (floppy.Length != ImageBuilder.FloppyBytes || floppy[510] != 0x55 || floppy[511] != 0xAA)
        {
            throw new BochsException(floppy.Length != ImageBuilder.FloppyBytes
                ? $"Malformed floppy image: {floppy.Length} bytes, a 1.44 MB floppy has {ImageBuilder.FloppyBytes}."
                : "Malformed floppy image: the first sector lacks the boot signature 55 AA.");
        }

        var directory = Directory.CreateTempSubdirectory("vmcsgen-bochs-");
        try
        {
            var image = Path.Combine(directory.FullName, "floppy.img");
            var config = Path.Combine(directory.FullName, "bochsrc");
            var commands = Path.Combine(directory.FullName, "cont");
            var log = Path.Combine(directory.FullName, "bochs.log");
            File.WriteAllBytes(image, floppy);
            File.WriteAllText(commands, "c\n");
            File.WriteAllText(config, string.Join('\n',
                $"megs: {GuestLayout.MemoryMegabytes}",
                $"cpu: model={Options.CpuModel}, count=1, ips={Options.InstructionsPerSecond}, reset_on_triple_fault=0",
                $"romimage: file=\"{Options.Bios}\"",
                $"vgaromimage: file=\"{Options.VgaBios}\"",
                $"floppya: 1_44=\"{image}\", status=inserted",
                "boot: floppy",
                "floppy_bootsig_check: disabled=0",
                "display_library: term",
                "clock: sync=none, time0=local",
                "port_e9_hack: enabled=1",
                "sound: driver=dummy", // the default driver crashes Bochs 2.7 on a host without ALSA
                $"log: \"{log}\"",
                "panic: action=fatal",
                "error: action=report",
                "info: action=ignore",
                "debug: action=ignore",
                "") + "\n");

            var start = new ProcessStartInfo(ResolveExecutable(Options.Bochs)!)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory.FullName,
            };
            foreach (var argument in new[] { "-q", "-f", config, "-rc", commands })
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["TERM"] = "dumb";
            using var process = Process.Start(start) ?? throw new BochsException($"Could not start {start.FileName}.");
            process.StandardInput.Close(); // stdin from nothing, like /dev/null
            var stdout = new StringBuilder();
            var stdoutDone = new ManualResetEventSlim();
            var readStdout = new Thread(() =>
            {
                var buffer = new char[65536];
                int n;
                while ((n = process.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                {
                    lock (stdout)
                    {
                        stdout.Append(buffer, 0, n);
                    }
                }

                stdoutDone.Set();
            }) { IsBackground = true };
            readStdout.Start();
            var stderrTask = process.StandardError.ReadToEndAsync(cancellationToken);
            if (!process.WaitForExit(Options.Timeout) || cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                cancellationToken.ThrowIfCancellationRequested();
                throw new BochsException($"Bochs timed out after {Options.Timeout.TotalSeconds:0.#} s: the guest did not shut down (a hung guest, or raise the timeout).");
            }

            stdoutDone.Wait(TimeSpan.FromSeconds(10));
            string output;
            lock (stdout)
            {
                output = stdout.ToString();
            }

            var logText = File.Exists(log) ? File.ReadAllText(log) : "";
            if (!logText.Contains("Shutdown port: shutdown requested", StringComparison.Ordinal))
            {
                if ((logText + stderrTask.Result).Contains("display library 'term' not available", StringComparison.Ordinal))
                {
                    throw new BochsException($"Bochs has no 'term' display library (install: apt-get install -y {BochsOptions.Packages}).");
                }

                var reason = logText.Split('\n').LastOrDefault(l => l.Contains("PANIC", StringComparison.Ordinal) || l.Contains("ERROR", StringComparison.Ordinal) || l.Contains("FATAL", StringComparison.Ordinal))
                    ?? stderrTask.Result.Split('\n').FirstOrDefault(l => l.Length > 0) ?? $"exit code {process.ExitCode}";
                // "00003853872p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution" -> "CPU0: exception(): …"
                var clean = System.Text.RegularExpressions.Regex.Replace(reason.Trim(), @"^\d+[a-z]\[(\w*)\s*\]\s*(>>PANIC<<\s*)?", m => m.Groups[1].Value.Length > 0 ? m.Groups[1].Value + ": " : "");
                if (clean.Contains("3rd (", StringComparison.Ordinal))
                {
                    clean += " (a triple fault)";
                }

                throw new BochsException($"Bochs stopped before the guest shut down: {clean}");
            }

            return output;
        }
        finally
        {
            try
            {
                if (Environment.GetEnvironmentVariable("VMCSGEN_BOCHS_KEEP") == "1")
                {
                    Console.Error.WriteLine($"bochs: kept {directory.FullName}");
                }
                else
                {
                    directory.Delete(recursive: true);
                }
            }
            catch (IOException)
            {
                // a leftover temporary directory is harmless
            }
        }
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

/// <summary>Parses the guest's port-0xE9 stream (docs/BOCHS-RUNNER.md) into records.</summary>
internal static class ResultStream
{
    public static List<IReadOnlyList<InstructionRecord>> Parse(string output, IReadOnlyList<GuestProgram> programs, int first, int count, List<ImageBuilder.StepRef> steps)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var start = lines.FindIndex(l => l.EndsWith(ImageBuilder.Header, StringComparison.Ordinal));
        if (start < 0)
        {
            var loadFailed = lines.Any(l => l.EndsWith('L') && l.Trim() == "L");
            throw new BochsException(loadFailed
                ? "The guest could not read its floppy image (BIOS int 13h failed)."
                : $"The guest never started: no '{ImageBuilder.Header}' line on port 0xE9 (a malformed image?).");
        }

        var records = new InstructionRecord?[steps.Count];
        var done = false;
        for (var i = start + 1; i < lines.Count && !done; i++)
        {
            var line = lines[i];
            var at = line.IndexOfAny(['P', 'R', 'X', 'E', 'F', 'D']);
            if (at < 0)
            {
                continue;
            }

            var fields = line[at..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (fields[0])
            {
                case "D":
                    done = true;
                    break;
                case "P":
                    break;
                case "F":
                    throw new BochsException($"The guest faulted outside a program: vector {Hex(fields, 1)}, error 0x{Hex(fields, 2):X}, at 0x{Hex(fields, 3):X}.");
                case "R" when fields.Length == 5:
                case "X" when fields.Length == 4:
                case "E" when fields.Length == 7:
                    var id = (int)Hex(fields, 1);
                    if (id < 0 || id >= steps.Count || records[id] is not null)
                    {
                        throw new BochsException($"Result stream: unexpected record '{line[at..]}'.");
                    }

                    var step = programs[steps[id].Program].Steps[steps[id].Step];
                    records[id] = fields[0] switch
                    {
                        "R" => Completed(steps[id], step, Hex(fields, 2), Hex(fields, 3), Hex(fields, 4)),
                        "X" => new InstructionRecord(steps[id].Program, steps[id].Step, Fault((byte)Hex(fields, 2), (uint)Hex(fields, 3)), 0, 0, 0),
                        _ => Exit(steps[id], (uint)Hex(fields, 2), Hex(fields, 3), (uint)Hex(fields, 4), Hex(fields, 5), Hex(fields, 6)),
                    };
                    break;
                default:
                    break; // not ours (the term display's output)
            }
        }

        if (!done)
        {
            throw new BochsException("Result stream: the guest stopped before its last program (no 'D' record).");
        }

        // A program with a guest ends at its first VM exit: its later steps have no record.
        var ended = new HashSet<int>();
        for (var id = 0; id < records.Length; id++)
        {
            var program = steps[id].Program;
            if (records[id] is { } r)
            {
                if (ended.Contains(program))
                {
                    throw new BochsException($"Result stream: program {program} has a record after the VM exit that ended it.");
                }

                if (programs[program].HasGuest && r.Outcome.Kind is InstructionOutcomeKind.VmExit or InstructionOutcomeKind.EntryFailure)
                {
                    ended.Add(program);
                }
            }
            else if (!ended.Contains(program))
            {
                throw new BochsException($"Result stream: no record for program {program}, step {steps[id].Step}.");
            }
        }

        var result = new List<IReadOnlyList<InstructionRecord>>(count);
        for (var p = 0; p < count; p++)
        {
            result.Add(new List<InstructionRecord>());
        }

        foreach (var record in records)
        {
            if (record is not null)
            {
                ((List<InstructionRecord>)result[record.Program - first]).Add(record);
            }
        }

        return result;
    }

    private static ulong Hex(string[] fields, int index) =>
        index < fields.Length && ulong.TryParse(fields[index], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new BochsException($"Result stream: '{string.Join(' ', fields)}' is not a record.");

    /// <summary>A VM exit to the runner's landing: reason bit 31 set is a VM-entry failure. Value = guest RIP, Auxiliary = instruction length.</summary>
    private static InstructionRecord Exit(ImageBuilder.StepRef at, uint reason, ulong qualification, uint information, ulong guestRip, ulong length) =>
        new(at.Program, at.Step,
            new InstructionOutcome((reason & VmxExitReason.EntryFailureBit) != 0 ? InstructionOutcomeKind.EntryFailure : InstructionOutcomeKind.VmExit,
                ExitReason: reason, ExitQualification: qualification, InstructionInformation: information),
            0, guestRip, length);

    private static InstructionOutcome Fault(byte vector, uint error) =>
        new(InstructionOutcomeKind.Exception, Vector: vector, ErrorCode: error);

    private static InstructionRecord Completed(ImageBuilder.StepRef at, GuestStep step, ulong rflags, ulong value, ulong auxiliary)
    {
        InstructionOutcome outcome;
        if (step is VmxInstruction or EnterGuest)
        {
            // Only VMREAD and VMPTRST produce a value; VMfailValid's number is the VM-instruction error field read back.
            const ulong cf = 1, zf = 0x40;
            outcome = (rflags & cf) != 0 ? InstructionOutcome.FailInvalid
                : (rflags & zf) != 0 ? InstructionOutcome.FailValid((VmxInstructionError)auxiliary)
                : InstructionOutcome.Succeed(step is VmxInstruction { Opcode: VmxOpcode.Vmread or VmxOpcode.Vmptrst } ? value : 0);
        }
        else
        {
            outcome = InstructionOutcome.Succeed(value);
        }

        return new InstructionRecord(at.Program, at.Step, outcome, rflags, value, auxiliary);
    }
}
