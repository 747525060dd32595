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
        Assert.That(w.Setup.Single(), Is.EqualTo(new Step(StepKind.Write, "CPU_BASED_VM_EXEC_CONTROL", new ValueSpec(ValueKind.Constant, 0x10), 1, 7)));
        var exit = w.Exits.Single();
        Assert.That((exit.Name, exit.Weight, exit.Steps.Count), Is.EqualTo(("CPUID", 3, 6)));
        Assert.That(exit.Steps[1], Is.EqualTo(new Step(StepKind.Hardware, "GUEST_ES_BASE", new ValueSpec(ValueKind.Random, 0), 0.5, 12)));
        Assert.That(exit.Steps[3].Value, Is.EqualTo(new ValueSpec(ValueKind.Add, 2)));
        Assert.That(exit.Steps[4], Is.EqualTo(new Step(StepKind.Write, "CPU_BASED_VM_EXEC_CONTROL", new ValueSpec(ValueKind.SetBits, 4), 0.25, 15)));
        Assert.That(exit.Steps[5].Value, Is.EqualTo(new ValueSpec(ValueKind.ClearBits, 4)));
    }

    [TestCase("workload w\nfrobnicate\n", 2, 1, "expected workload, describe, based-on, setup or exit, got 'frobnicate'")]
    [TestCase("workload w\nexit A\n", 2, 1, "expected 'exit NAME weight N'")]
    [TestCase("workload w\nexit A weight zero\nend\n", 2, 15, "expected a positive whole weight, got 'zero'")]
    [TestCase("workload w\nexit A weight 1\n  read X p=1.5\nend\n", 3, 10, "expected a probability between 0 and 1, got 'p=1.5'")]
    [TestCase("workload w\nexit A weight 1\n  hw X\nend\n", 3, 7, "expected a value: a number, random, +N, |MASK or &~MASK")]
    [TestCase("workload w\nexit A weight 1\n  write X 0xZZ\nend\n", 3, 11, "expected a value (a number, random, +N, |MASK or &~MASK), got '0xZZ'")]
    [TestCase("workload w\nexit A weight 1\n  jump X\nend\n", 3, 3, "expected hw, read, write or end, got 'jump'")]
    [TestCase("workload w\nexit A weight 1\n  read X extra\nend\n", 3, 10, "unexpected 'extra'")]
    [TestCase("workload w\nsetup\n  read X\nend\n", 3, 3, "a setup block holds only write lines")]
    [TestCase("workload w\nexit A weight 1\nend\n", 3, 1, "exit 'A' has no hw, read or write line")]
    [TestCase("workload w\nexit A weight 1\n  read X\n", 4, 1, "the exit 'A' block has no 'end'")]
    [TestCase("exit A weight 1\n  read X\nend\n", 1, 1, "expected a 'workload NAME' line")]
    [TestCase("workload w\n", 2, 1, "expected at least one 'exit NAME weight N' block")]
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
        Assert.That(error.Message, Is.EqualTo("w.workload(4,1): error: unknown field 'GUEST_TYPO' (no compiled manifest has it)"));
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
