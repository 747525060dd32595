using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace VmcsGen.Bochs;

public sealed partial class BochsRunner
{
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
            File.WriteAllText(config, Bochsrc(image, log));
            var (output, stderr, exitCode) = RunBochs(directory.FullName, config, commands, cancellationToken);
            var logText = File.Exists(log) ? File.ReadAllText(log) : "";
            if (!logText.Contains("Shutdown port: shutdown requested", StringComparison.Ordinal))
            {
                throw StoppedEarly(logText, stderr.Result, exitCode);
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

    /// <summary>The bochsrc for one boot: the CPU model, firmware, the floppy, the term display, port 0xE9 and the log.</summary>
    private string Bochsrc(string image, string log) => string.Join('\n',
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
        "") + "\n";

    /// <summary>
    /// Runs <c>bochs -q -f config -rc commands</c> in <paramref name="directory"/> with stdin closed and waits for it (at most
    /// <see cref="BochsOptions.Timeout"/>); returns its standard output (the port-0xE9 text), its standard error (read only
    /// when needed) and exit code.
    /// </summary>
    private (string Output, Task<string> Stderr, int ExitCode) RunBochs(string directory, string config, string commands, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ResolveExecutable(Options.Bochs)!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
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
            throw new BochsException(
                $"Bochs timed out after {Options.Timeout.TotalSeconds:0.#} s: the guest did not shut down (a hung guest, or raise the timeout).");
        }

        stdoutDone.Wait(TimeSpan.FromSeconds(10));
        lock (stdout)
        {
            return (stdout.ToString(), stderrTask, process.ExitCode);
        }
    }

    /// <summary>Why Bochs stopped before the guest asked it to: the term display missing, or the log's last panic or error in one line.</summary>
    private static BochsException StoppedEarly(string logText, string stderr, int exitCode)
    {
        if ((logText + stderr).Contains("display library 'term' not available", StringComparison.Ordinal))
        {
            return new BochsException($"Bochs has no 'term' display library (install: apt-get install -y {BochsOptions.Packages}).");
        }

        var reason = logText.Split('\n').LastOrDefault(l => new[] { "PANIC", "ERROR", "FATAL" }.Any(word => l.Contains(word, StringComparison.Ordinal)))
            ?? stderr.Split('\n').FirstOrDefault(l => l.Length > 0) ?? $"exit code {exitCode}";
        // "00003853872p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution" -> "CPU0: exception(): …"
        var clean = Regex.Replace(reason.Trim(), @"^\d+[a-z]\[(\w*)\s*\]\s*(>>PANIC<<\s*)?", m => m.Groups[1].Value.Length > 0 ? m.Groups[1].Value + ": " : "");
        if (clean.Contains("3rd (", StringComparison.Ordinal))
        {
            clean += " (a triple fault)";
        }

        return new BochsException($"Bochs stopped before the guest shut down: {clean}");
    }
}
