using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class MeasurementsTests
{
    private static readonly string[] Known = ["cpuid", "vmcall", "mov_dr"];

    private static string Write(string text)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public void VmexitOutputKeepsResultLinesAndSkipsTheRest()
    {
        // Lines as kvm-unit-tests x86/vmexit.c prints them: "NAME CYCLES", "  ipi NAME N", "NAME (skipped)", other notes.
        var path = Write("enabling apic\nPM timer port is 608\ncpuid 14886\nvmcall 14918\n  ipi vmcall 120\nmov_dr (skipped)\n");
        var m = Measurements.ReadVmexitOutput(path, Known);
        Assert.That(m.ToDictionary(kv => kv.Key, kv => kv.Value.Cycles), Is.EqualTo(new Dictionary<string, double> { ["cpuid"] = 14886, ["vmcall"] = 14918 }));
        Assert.That(m["vmcall"].Origin, Is.EqualTo($"{path}(4)"));
    }

    [TestCase("cpuid 100\nfrob 12\n", 2, "unknown test 'frob'")]
    [TestCase("cpuid 100\ncpuid 120\n", 2, "test 'cpuid' measured twice with different results")]
    [TestCase("cpuid 0\n", 1, "cycles must be a positive number of cycles, got '0'")]
    public void BadVmexitOutputNamesTheLine(string text, int line, string message)
    {
        var path = Write(text);
        Assert.That(() => Measurements.ReadVmexitOutput(path, Known), Throws.TypeOf<FormatException>().With.Message.StartsWith($"{path}({line},1): error: " +
            $"{message}"));
    }

    [Test]
    public void OutputWithoutAnyResultIsAnError()
    {
        var path = Write("hello\n");
        Assert.That(() => Measurements.ReadVmexitOutput(path, Known), Throws.TypeOf<FormatException>().With.Message.Contains("no 'TEST CYCLES' line"));
    }

    [TestCase("test before after\ncpuid 1 2 3\n", 2, "expected 'test before after'")]
    [TestCase("cpuid 1 2\ncpuid 1 2\n", 2, "test 'cpuid' appears twice")]
    [TestCase("cpuid x 2\n", 1, "before must be a positive number of cycles, got 'x'")]
    public void BadTablesNameTheLine(string text, int line, string message)
    {
        var path = Write(text);
        Assert.That(() => Measurements.ReadTable(path, Known), Throws.TypeOf<FormatException>().With.Message.StartsWith($"{path}({line},1): error: {message}"));
    }
}
