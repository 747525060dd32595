using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class OptionsTests
{
    [Test]
    public void DefaultsAndValues()
    {
        var o = Options.Parse(["--rounds", "500", "--seed", "9", "--format", "csv", "--workload", "idle", "--cost", "vmread=20"]);
        Assert.That((o.Rounds, o.Seed, o.Format, o.Workloads.Single(), o.Costs["vmread"]), Is.EqualTo((500, 9, "csv", "idle", 20.0)));
        Assert.That(Options.Parse([]).Rounds, Is.EqualTo(Options.DefaultRounds));
    }

    [TestCase(new[] { "--rounds", "0" }, "--rounds takes a whole number of round trips from 1 to 1,000,000, got '0'")]
    [TestCase(new[] { "--rounds", "99999999999999" }, "--rounds takes a whole number of round trips from 1 to 1,000,000, got '99999999999999'")]
    [TestCase(new[] { "--suite", "vmexit", "--workload", "cpuid" }, "Unknown option 'workload' (try suite --help)")]
    [TestCase(new[] { "--rounds" }, "--rounds needs a value")]
    [TestCase(new[] { "--format", "xml" }, "--format takes table, json or csv, got 'xml'")]
    [TestCase(new[] { "--cost", "vmread" }, "--cost takes NAME=CYCLES, got 'vmread'")]
    [TestCase(new[] { "--frobnicate" }, "Unknown option 'frobnicate' (try run --help)")]
    public void BadArgumentsSayWhatIsWrong(string[] args, string message) =>
        Assert.That(() => Options.Parse(args), Throws.ArgumentException.With.Message.EqualTo(message));

    [Test]
    public void AMissingCostsFileIsNamedWithItsOption() =>
        Assert.That(() => Program.Costs("/nonexistent/my.costs", new Dictionary<string, double>()),
            Throws.ArgumentException.With.Message.EqualTo("--costs /nonexistent/my.costs: no such file"));

    [Test]
    public void UnknownCostsAndManifestsAreNamed()
    {
        Assert.That(() => new CostModel(new Dictionary<string, double> { ["vmreed"] = 1 }),
            Throws.ArgumentException.With.Message.StartsWith("unknown cost 'vmreed'"));
        Assert.That(() => Samples.NestedSim.Strategies.Build(Sim.Layouts, ["nope"]), Throws.ArgumentException.With.Message.Contains("--manifest nope"));
        Assert.That(Samples.NestedSim.Strategies.Build(Sim.Layouts, ["minimal"]).Last().Layout.ManifestFile, Is.EqualTo("minimal.vmcs"));
        Assert.That(Samples.NestedSim.Strategies.Build(Sim.Layouts, ["VmcsGen.Layouts.Minimal"]).Last().Layout.ManifestFile, Is.EqualTo("minimal.vmcs"),
            "the name --list prints");
    }
}
