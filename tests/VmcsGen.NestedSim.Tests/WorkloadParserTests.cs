using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class WorkloadParserTests
{
    private const string Good = """
        # a comment
        workload   tiny
        describe   one exit, for tests
        based-on   nothing

        setup
          write CPU_BASED_VM_EXEC_CONTROL  0x10
        end

        exit CPUID weight 3
          hw    VM_EXIT_REASON    10
          hw    GUEST_ES_BASE     random  p=0.5   # sometimes
          read  VM_EXIT_REASON
          write GUEST_RIP         +2
          write CPU_BASED_VM_EXEC_CONTROL |0x4 p=0.25
          write CPU_BASED_VM_EXEC_CONTROL &~0x4
        end
        """;

    [Test]
    public void AWellFormedWorkloadParsesCompletely()
    {
        var w = WorkloadParser.Parse(Good, "tiny.workload");

        Assert.That((w.Name, w.Description, w.BasedOn), Is.EqualTo(("tiny", "one exit, for tests", "nothing")));
        Assert.That(w.Setup.Single(), Is.EqualTo(new Step(StepKind.Write, "CPU_BASED_VM_EXEC_CONTROL", new ValueSpec(ValueKind.Constant, 0x10), 1, 7, 9)));
        var exit = w.Exits.Single();
        Assert.That((exit.Name, exit.Weight, exit.Steps.Count), Is.EqualTo(("CPUID", 3, 6)));
        Assert.That(exit.Steps[1], Is.EqualTo(new Step(StepKind.Hardware, "GUEST_ES_BASE", new ValueSpec(ValueKind.Random, 0), 0.5, 12, 9)));
        Assert.That(exit.Steps[3].Value, Is.EqualTo(new ValueSpec(ValueKind.Add, 2)));
        Assert.That(exit.Steps[4], Is.EqualTo(new Step(StepKind.Write, "CPU_BASED_VM_EXEC_CONTROL", new ValueSpec(ValueKind.SetBits, 4), 0.25, 15, 9)));
        Assert.That(exit.Steps[5].Value, Is.EqualTo(new ValueSpec(ValueKind.ClearBits, 4)));
    }

    [TestCase("workload w\nfrobnicate\n", 2, 1, "expected workload, describe, based-on, per-iteration, handlers, run, setup or exit, got 'frobnicate'")]
    [TestCase("workload w\nexit A\n", 2, 1, "expected 'exit NAME weight N'")]
    [TestCase("workload w\nexit A weight zero\nend\n", 2, 15, "expected a positive whole weight, got 'zero'")]
    [TestCase("workload w\nexit A weight 1\n  read X p=1.5\nend\n", 3, 10, "expected a probability between 0 and 1, got 'p=1.5'")]
    [TestCase("workload w\nexit A weight 1\n  hw X\nend\n", 3, 7, "expected a value: a number, random, +N, |MASK or &~MASK")]
    [TestCase("workload w\nexit A weight 1\n  write X 0xZZ\nend\n", 3, 11, "expected a value (a number, random, +N, |MASK or &~MASK), got '0xZZ'")]
    [TestCase("workload w\nexit A weight 1\n  jump X\nend\n", 3, 3, "expected hw, read, write, event or end, got 'jump'")]
    [TestCase("workload w\nexit A weight 1\n  read X extra\nend\n", 3, 10, "unexpected 'extra'")]
    [TestCase("workload w\nsetup\n  read X\nend\n", 3, 3, "a setup block holds only write lines")]
    [TestCase("workload w\nexit A weight 1\nend\n", 3, 1, "exit 'A' has no hw, read, write or event line")]
    [TestCase("workload w\nexit A weight 1\n  read X\n", 4, 1, "the exit 'A' block has no 'end'")]
    [TestCase("exit A weight 1\n  read X\nend\n", 1, 1, "expected a 'workload NAME' line")]
    [TestCase("workload w\n", 2, 1, "expected at least one 'exit NAME weight N' block or 'run' line (or 'per-iteration 0')")]
    public void AMalformedWorkloadNamesTheFileLineColumnAndWhatWasExpected(string text, int line, int column, string message)
    {
        var error = Assert.Throws<WorkloadFormatException>(() => WorkloadParser.Parse(text, "bad.workload"))!;

        Assert.That((error.FilePath, error.Line, error.Column), Is.EqualTo(("bad.workload", line, column)));
        Assert.That(error.Message, Is.EqualTo($"bad.workload({line},{column}): error: {message}"));
    }

    [Test]
    public void AnUnknownFieldIsReportedAtItsLine()
    {
        var w = WorkloadParser.Parse("workload w\nexit A weight 1\n  read VM_EXIT_REASON\n  read GUEST_TYPO\nend\n", "w.workload");
        var error = Assert.Throws<WorkloadFormatException>(() => Simulator.Validate(w, Sim.Names))!;
        Assert.That(error.Message, Is.EqualTo("w.workload(4,8): error: unknown field 'GUEST_TYPO' (no compiled manifest has it)"));
    }

    [TestCase("HOST_RIP", "HostState")]
    [TestCase("CPU_BASED_VM_EXEC_CONTROL", "Control")]
    public void AnHwLineNamesOnlyWhatTheCpuWritesOnAnExit(string field, string type)
    {
        // SDM 27.2-27.3: a VM exit saves exit information and guest state; it never writes controls or host state.
        var w = WorkloadParser.Parse($"workload w\nexit A weight 1\n  hw    {field} 4\nend\n", "w.workload");
        var error = Assert.Throws<WorkloadFormatException>(() => Simulator.Validate(w, Sim.Names))!;
        Assert.That(error.Message, Is.EqualTo($"w.workload(3,9): error: the CPU does not write {field} on a VM exit ({type} field); " +
            "an hw line names exit-information or guest-state fields"));
    }

    [Test]
    public void EventsPerIterationAndHandlerFilesParse()
    {
        var directory = Directory.CreateTempSubdirectory("vmcsgen-workload-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "lib.handlers"), "setup\n  write GUEST_RIP 0x1000\nend\nexit A weight 7\n  read VM_EXIT_REASON\n  " +
                "event l1-userspace p=0.5\nend\nexit B weight 1\n  read GUEST_RIP\nend\n");
            var path = Path.Combine(directory, "t.workload");
            File.WriteAllText(path, "workload t\nper-iteration 2\nhandlers lib.handlers\nrun B weight 3\nrun A weight 1\n");
            var w = WorkloadParser.Load(path);
            Assert.That((w.PerIteration, w.Exits.Select(e => (e.Name, e.Weight)).ToList()), Is.EqualTo((2, new[] { ("B", 3), ("A", 1) }.ToList())));
            Assert.That(w.Exits[1].Steps[1], Is.EqualTo(new Step(StepKind.Event, "l1-userspace", new ValueSpec(ValueKind.Add, 0), 0.5, 6, 9)));
            Assert.That((w.Setup.Single().Field, w.SetupPath, w.PathOf(w.Exits[0].Steps[0])),
                Is.EqualTo(("GUEST_RIP", Path.Combine(directory, "lib.handlers"), Path.Combine(directory, "lib.handlers"))));

            File.WriteAllText(path, "workload t\nhandlers lib.handlers\nrun C weight 1\n");
            Assert.That(() => WorkloadParser.Load(path), Throws.TypeOf<WorkloadFormatException>().With.Message.EqualTo(
                $"{path}(3,5): error: no exit 'C' in lib.handlers; it has: A, B"));
            File.WriteAllText(path, "workload t\nhandlers nope.handlers\n");
            Assert.That(() => WorkloadParser.Load(path), Throws.TypeOf<WorkloadFormatException>().With.Message.StartsWith(
                $"{path}(2,10): error: handlers file 'nope.handlers' not found"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestCase("workload w\nper-iteration 0\n", 0)]
    [TestCase("workload w\nexit A weight 1\n  read VM_EXIT_REASON\nend\n", 1)]
    public void PerIterationDefaultsToOneAndZeroNeedsNoExit(string text, int expected) =>
        Assert.That(WorkloadParser.Parse(text, "w.workload").PerIteration, Is.EqualTo(expected));

    [TestCase("workload w\nper-iteration many\n", 2, 15, "expected a whole number of nested round trips per iteration (0 to 16), got 'many'")]
    [TestCase("workload w\nper-iteration 0\nexit A weight 1\n  read X\nend\n", 6, 1, "a workload with 'per-iteration 0' has no exits; " +
        "remove its exit blocks and run lines")]
    [TestCase("workload w\nexit A weight 1\n  event coffee\nend\n", 3, 9, "unknown event 'coffee'; known: l1-userspace, l1-inject")]
    [TestCase("workload w\nrun A weight 1\n", 2, 1, "'run' needs a 'handlers FILE' line before it")]
    [TestCase("workload w\nexit A weight 1\n  read X\nend\nexit A weight 1\n  read X\nend\n", 5, 6, "exit 'A' is defined twice")]
    public void NewSyntaxMistakesAreNamed(string text, int line, int column, string message)
    {
        var error = Assert.Throws<WorkloadFormatException>(() => WorkloadParser.Parse(text, "bad.workload"))!;
        Assert.That(error.Message, Is.EqualTo($"bad.workload({line},{column}): error: {message}"));
    }

    [Test]
    public void AHugeTokenIsNotEchoedInFull()
    {
        var error = Assert.Throws<WorkloadFormatException>(() => WorkloadParser.Parse("workload w\n" + new string('x', 100_000) + "\n", "bad.workload"))!;
        Assert.That(error.Message.Length, Is.LessThan(200));
    }

    [TestCase("cpuid-loop")]
    [TestCase("io-mix")]
    [TestCase("idle")]
    public void ShippedWorkloadsParseAndNameOnlyKnownFields(string name)
    {
        var w = WorkloadParser.Load(Path.Combine(System.AppContext.BaseDirectory, "Workloads", name + ".workload"));
        Assert.That(w.Name, Is.EqualTo(name));
        Assert.That(w.Description, Is.Not.Empty);
        Assert.DoesNotThrow(() => Simulator.Validate(w, Sim.Names));
    }
}
