using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Nested;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// The trace format (docs/TRACE.md): recorded, parsed, turned into a workload and back, and refused when malformed; and
/// the advise command's files and errors.
/// </summary>
public sealed class TraceTests
{
    private static readonly string Workloads = Path.Combine(AppContext.BaseDirectory, "Workloads");

    private static (string Text, StrategyResult Result) Record(string workloadName, int rounds)
    {
        var workload = WorkloadParser.Load(Path.Combine(Workloads, workloadName + ".workload"));
        var trace = Simulator.Trace(workload, Sim.Names, rounds, seed: 5);
        using var writer = new StringWriter();
        var strategy = Sim.Named("kvm");
        var result = Simulator.Run(strategy, workload, Sim.Names, trace, CostModel.Default(), wrap: e =>
            new NestedTraceRecorder(e, writer, strategy.Layout.Fields), warmup: 0);
        return (writer.ToString(), result);
    }

    [Test]
    public void TheRecorderChangesNothingTheEngineDoes()
    {
        var workload = WorkloadParser.Load(Path.Combine(Workloads, "io-mix.workload"));
        var trace = Simulator.Trace(workload, Sim.Names, 500, seed: 5);
        var plain = Simulator.Run(Sim.Named("kvm"), workload, Sim.Names, trace, new CostModel(), warmup: 0);
        var (_, recorded) = Record("io-mix", 500);
        Assert.That(recorded.Total, Is.EqualTo(plain.Total));
    }

    /// <summary>An L1 handler written against IVmcs, as hypervisors write them: it runs on the engine through NestedL1Vmcs.</summary>
    private static void HandleCpuid<TVmcs>(ref TVmcs vmcs)
        where TVmcs : struct, IVmcs
    {
        vmcs.VmRead(0x4402, out _); // VM_EXIT_REASON
        vmcs.VmRead(0x440C, out var length); // VM_EXIT_INSTRUCTION_LEN
        vmcs.VmRead(0x681E, out var rip); // GUEST_RIP
        vmcs.VmWrite(0x681E, rip + length);
    }

    [Test]
    public void AnL1WrittenAgainstIVmcsIsRecordedLineForLineAsThroughTheEngineDecorator()
    {
        var layout = Sim.Named("kvm").Layout;
        FieldWrite[] exit = [new(0x4402, 10), new(0x440C, 2)];
        string Run(bool throughIVmcs)
        {
            using var text = new StringWriter();
            var engine = layout.CreateEngine();
            var recorder = new NestedTraceRecorder(engine, text, layout.Fields);
            var writer = recorder.Trace;
            engine.Memory.CreateRegion(0x20000, layout.Revision);
            INestedEngine l1 = throughIVmcs ? engine : recorder;
            if (throughIVmcs)
            {
                writer.Instruction("vmptrld 0x20000", engine.L1VmPtrLd(0x20000));
                writer.Launch(engine.L1VmLaunch());
            }
            else
            {
                recorder.L1VmPtrLd(0x20000);
                recorder.L1VmLaunch();
            }

            for (var i = 0; i < 3; i++)
            {
                l1.L2Exit(exit);
                if (throughIVmcs)
                {
                    writer.Exit(exit);
                    var vmcs = new RecordingVmcs<NestedL1Vmcs>(new NestedL1Vmcs(engine), writer);
                    HandleCpuid(ref vmcs);
                    writer.Resume(engine.L1VmResume());
                }
                else
                {
                    var vmcs = new NestedL1Vmcs(recorder);
                    HandleCpuid(ref vmcs);
                    recorder.L1VmResume();
                }
            }

            return text.ToString();
        }

        var viaIVmcs = Run(throughIVmcs: true);
        Assert.That(viaIVmcs, Is.EqualTo(Run(throughIVmcs: false)));
        var trace = TraceFile.Parse(viaIVmcs, "ivmcs.trace", Sim.Names);
        Assert.That(trace.Rounds.Select(r => r.Handler.Count), Is.EqualTo(new[] { 4, 4, 4 }));
        var workload = TraceFile.ToWorkload(trace, "ivmcs");
        Assert.That(workload.Exits.Single().Steps.Last().Value, Is.EqualTo(new ValueSpec(ValueKind.Add, 2)),
            "RIP advances by the instruction length each time: +2");
    }

    [Test]
    public void ARecordedTraceHasOneLinePerEventAndEveryRoundTrip()
    {
        var (text, _) = Record("cpuid-loop", 10);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo("vmcsgen-trace 1"));
            Assert.That(lines, Does.Contain("launch"));
            Assert.That(lines.Count(l => l.StartsWith("exit ", StringComparison.Ordinal)), Is.EqualTo(10));
            Assert.That(lines.Count(l => l == "resume"), Is.EqualTo(10));
            Assert.That(lines, Does.Contain("read VM_EXIT_REASON 0xA"), "the CPUID exit's reason, as L1 read it");
        });
        var parsed = TraceFile.Parse(text, "cpuid.trace", Sim.Names);
        Assert.That(parsed.Rounds, Has.Count.EqualTo(10));
        Assert.That(parsed.Rounds.All(r => r.Reason == 10), Is.True);
    }

    /// <summary>Workload → trace → workload: the converted workload costs what the original does (within sampling noise).</summary>
    [TestCase("idle")]
    [TestCase("io-mix")]
    public void AWorkloadRecordedAndConvertedBackCostsWhatTheOriginalCosts(string name)
    {
        var (text, _) = Record(name, 5_000);
        var converted = TraceFile.ToWorkload(TraceFile.Parse(text, name + ".trace", Sim.Names), name);
        var reparsed = WorkloadParser.Parse(TraceFile.ToWorkloadText(converted), name + ".converted.workload");
        Assert.That(reparsed.Exits.Select(e => (e.Name, e.Weight, e.Steps.Count)), Is.EqualTo(converted.Exits.Select(e => (e.Name, e.Weight, e.Steps.Count))),
            "the workload text reads back as written");

        var original = WorkloadParser.Load(Path.Combine(Workloads, name + ".workload"));
        double Cycles(Workload w) => Simulator.Run(Sim.Named("kvm"), w, Sim.Names, Simulator.Trace(w, Sim.Names, 20_000, seed: 9),
            CostModel.Default()).CyclesPerRound;
        var (before, after) = (Cycles(original), Cycles(reparsed));
        TestContext.Out.WriteLine($"{name}: original {before:N0}, converted {after:N0} cycles per round trip, {converted.Exits.Count} exit shapes");
        Assert.That(after, Is.EqualTo(before).Within(1).Percent);
    }

    /// <summary>Doc-sync: the example trace docs/TRACE.md shows parses, into what the page says it is.</summary>
    [Test]
    [Category("DocSync")]
    public void TheExampleInTraceMdParsesAsDocumented()
    {
        var markdown = File.ReadAllText(Path.Combine(Sim.RepositoryRoot(), "docs", "TRACE.md"));
        var block = System.Text.RegularExpressions.Regex.Match(markdown, "```trace\n(.*?)```",
            System.Text.RegularExpressions.RegexOptions.Singleline).Groups[1].Value;
        var trace = TraceFile.Parse(block, "TRACE.md", Sim.Names);
        Assert.That(trace.Rounds, Has.Count.EqualTo(1));
        Assert.That((trace.Rounds[0].Reason, trace.Rounds[0].Hardware.Count, trace.Rounds[0].Handler.Count, trace.Setup.Count), Is.EqualTo((12, 3, 5, 2)));
        var workload = TraceFile.ToWorkload(trace, "example");
        Assert.That(workload.Exits.Single().Name, Is.EqualTo("HLT"));
    }

    [TestCase("not a trace\n", 1, 1, "not a VmcsGen trace")]
    [TestCase("vmcsgen-trace 2\n", 1, 15, "version 2 is not supported")]
    [TestCase("vmcsgen-trace 1\nlaunch\nexit 10\nread GUEST_RIPP 0x1\nresume\n", 4, 6, "unknown field 'GUEST_RIPP'")]
    [TestCase("vmcsgen-trace 1\nlaunch\nexit 10\nread GUEST_RIP 0x1\n", 4, 1, "ends inside the round trip that began at line 3")]
    [TestCase("vmcsgen-trace 1\nlaunch\nexit 10\nwri", 4, 1, "expected exit, hw, read")]
    [TestCase("vmcsgen-trace 1\nexit 10\nresume\n", 2, 1, "before L1's first successful 'launch'")]
    [TestCase("vmcsgen-trace 1\nlaunch\nexit 10\nwrite GUEST_RIP\nresume\n", 4, 16, "needs 2 operands")]
    [TestCase("vmcsgen-trace 1\nlaunch\nexit 10\nresume\nvmclear 0x20000\n", 5, 1, "a workload replays one vmcs12")]
    [TestCase("vmcsgen-trace 1\nlaunch\n", 2, 1, "no complete round trip")]
    [TestCase("", 1, 1, "empty trace")]
    public void AMalformedTraceIsOneErrorWithItsLine(string text, int line, int column, string message)
    {
        var e = Assert.Throws<WorkloadFormatException>(() => TraceFile.Parse(text, "bad.trace", Sim.Names))!;
        Assert.That(e.Message, Does.StartWith($"bad.trace({line},{column}): error: ").And.Contain(message));
    }

    /// <summary>Runs <paramref name="body"/> in a fresh temporary directory, deleted afterwards.</summary>
    private static void InTemporaryDirectory(Action<string> body)
    {
        var directory = Path.Combine(Path.GetTempPath(), "vmcsgen-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            body(directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Runs an advisor command (advise, compare, record, convert) as the CLI does; returns its status and what it printed.</summary>
    private static (int Status, string Output) RunCommand(string command, params string[] args)
    {
        var console = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            return (AdviseCommand.Run(command, args), output.ToString());
        }
        finally
        {
            Console.SetOut(console);
        }
    }

    [Test]
    public void AdviseWritesTheProposalAndJsonWithTheSameNumbers() => InTemporaryDirectory(directory =>
    {
        var output = Path.Combine(directory, "kvm-cpuid.vmcs");
        var (status, json) = RunCommand("advise", "--manifest", "kvm", "--workload", "cpuid-loop", "--rounds", "2000", "--safety", "50", "--format", "json",
            "--out", output);
        Assert.That(status, Is.EqualTo(Program.Ran));
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo("vmcsgen-advise/1"));
            Assert.That(root.GetProperty("verification").GetProperty("passed").GetBoolean(), Is.True);
            Assert.That(root.GetProperty("proposal").GetProperty("file").GetString(), Is.EqualTo(output));
            Assert.That(root.GetProperty("weighted").GetProperty("saving").GetDouble(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("changes").GetArrayLength(), Is.GreaterThan(0));
        });

        var text = File.ReadAllText(output);
        Assert.That(text, Does.StartWith("# Proposed by NestedSim advise from kvm.vmcs").And.Contain("layout    VmcsGen.Layouts.KvmAdvised"));
        var compiled = ManifestCompiler.Compile(output, text);
        Assert.That(compiled.Diagnostics, Is.Empty, "the written proposal builds with no diagnostic");
    });

    [Test]
    public void AGzippedTraceIsWrittenAndReadAsIs() => InTemporaryDirectory(directory =>
    {
        var gz = Path.Combine(directory, "cpuid.trace.gz");
        Assert.That(RunCommand("record", "--workload", "cpuid-loop", "--rounds", "100", "--out", gz).Status, Is.EqualTo(Program.Ran));
        using (var file = File.OpenRead(gz))
        {
            Assert.That((file.ReadByte(), file.ReadByte()), Is.EqualTo((0x1F, 0x8B)), "a gzip member");
        }

        var trace = TraceFile.Load(gz, Sim.Names);
        Assert.That(trace.Rounds, Has.Count.EqualTo(100));
        Assert.That(TraceFile.NameOf(gz), Is.EqualTo("cpuid"));
    });

    /// <summary>
    /// Doc-sync: samples/NestedSim/README.md's worked example shows two commands and what advise printed; this replays them
    /// (record idle on kvm.vmcs, advise on the trace) and checks the shown rows are what they print. It checks the page, not
    /// the advisor (AdvisorTests and CountModelTests do that).
    /// </summary>
    [Test]
    [Category("DocSync")]
    public void TheReadmesWorkedExampleIsWhatRecordAndAdvisePrint() => InTemporaryDirectory(directory =>
    {
        var trace = Path.Combine(directory, "idle.trace");
        Assert.That(RunCommand("record", "--workload", "idle", "--manifest", "kvm", "--rounds", "5000", "--out", trace).Status, Is.EqualTo(Program.Ran));
        var (status, json) = RunCommand("advise", "--manifest", "kvm", "--trace", trace, "--format", "json");
        Assert.That(status, Is.EqualTo(Program.Ran));

        using var document = System.Text.Json.JsonDocument.Parse(json);
        var root = document.RootElement;
        var weighted = root.GetProperty("weighted");
        var (before, after) = (weighted.GetProperty("before").GetDouble(), weighted.GetProperty("after").GetDouble());
        var changes = root.GetProperty("changes").EnumerateArray().ToList();
        var hostCr3 = changes.Single(c => c.GetProperty("field").GetString() == "HOST_CR3");
        var readme = Sim.Readme();
        var row = $"idle 1 {before:N0} {after:N0} {before - after:N0} ({(before - after) / before * 100:0.0} %)";
        Assert.Multiple(() =>
        {
            Sim.AssertReadmeSays(readme, row);
            Sim.AssertReadmeSays(readme, $"… ({changes.Count} fields)");
            Sim.AssertReadmeSays(readme, $"HOST_CR3 {hostCr3.GetProperty("before").GetString()} → {hostCr3.GetProperty("after").GetString()} 0 % " +
                $"{hostCr3.GetProperty("writeShare").GetDouble() * 100:0.#} % {hostCr3.GetProperty("cyclesSaved").GetDouble():0.0}");
        });
    });

    [Test]
    public void BadAdvisorInputIsOneErrorAndNothingIsWritten() => InTemporaryDirectory(directory =>
    {
        var output = Path.Combine(directory, "proposal.vmcs");
        var badManifest = Path.Combine(directory, "bad.vmcs");
        File.WriteAllText(badManifest, "layout VmcsGen.Layouts.Bad\nrevision 1\nGUEST_RIP 0x681e shadow-rx\n");
        var truncated = Path.Combine(directory, "cut.trace");
        File.WriteAllText(truncated, "vmcsgen-trace 1\nlaunch\nexit 10\nread VM_EXIT_REASON 0xA\n");

        string Error(params string[] args) =>
            Assert.Throws<ArgumentException>(() => AdviseCommand.Run("advise", [.. args, "--out", output, "--quiet"]))!.Message;
        Assert.Multiple(() =>
        {
            Assert.That(Error("--manifest", badManifest), Does.Contain("bad.vmcs(3,18): error VMCS0002"));
            Assert.That(Error("--manifest", "kvm", "--workload", "idle:0"), Does.Contain("weights sum to 0"));
            Assert.That(Error("--manifest", "kvm", "--workload", "idle:-1"), Does.Contain("the weight must be a number from 0 up"));
            Assert.That(Error("--manifest", "nonesuch"), Does.Contain("--manifest nonesuch: neither a manifest compiled into NestedSim"));
            Assert.That(Error(), Does.Contain("advise needs --manifest"));
            var e = Assert.Throws<WorkloadFormatException>(() => AdviseCommand.Run("advise", ["--manifest", "kvm", "--trace", truncated, "--out", output,
                "--quiet"]))!;
            Assert.That(e.Message, Does.Contain("cut.trace(4,1): error: the trace ends inside the round trip that began at line 3"));
            Assert.That(File.Exists(output), Is.False, "nothing is written on error");
        });
    });
}
