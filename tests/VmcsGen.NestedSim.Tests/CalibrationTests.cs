using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim;

namespace VmcsGen.NestedSim.Tests;

public sealed class CalibrationTests
{
    private static CalibrationPoint Point(string label, double measured, params (string Term, double Units)[] units) =>
        new(label, units.ToDictionary(u => u.Term, u => u.Units), measured, "synthetic");

    [Test]
    public void AFitOfSyntheticDataRecoversTheValuesThatMadeIt()
    {
        // Measurements made from a known model: each point exercises the terms in a different mix, so every term is
        // identifiable; the fit must find the values back (to the small pull of the priors).
        var truth = new Dictionary<string, double> { ["vcpu-switch"] = 650, ["full-consistency-check"] = 250, ["vmread"] = 12, ["l0-nested-exit"] = 3100 };
        var random = new Random(5);
        var points = new List<CalibrationPoint>();
        for (var i = 0; i < 12; i++)
        {
            var units = truth.Keys.Select(t => (t, (double)random.Next(0, 60))).Append(("l1-exit", 1.0)).ToArray();
            var measured = units.Sum(u => u.Item2 * (truth.TryGetValue(u.Item1, out var v) ? v : CostModel.Term(u.Item1).Prior));
            points.Add(Point($"p{i}", measured, units));
        }

        var result = Calibrator.Fit(points, new CostModel(), truth.Keys.ToList());
        foreach (var (term, value) in truth)
        {
            Assert.That(result.Model[term], Is.EqualTo(value).Within(0.01 * value), term);
        }

        Assert.That(result.RmsRelativeError, Is.LessThan(1e-3));
    }

    [Test]
    public void ATermStaysInsideItsRangeAndTheFitSaysWhenItHitsABound()
    {
        // The data want 2,000 cycles per vCPU switch; its stated range ends at 800.
        var points = new[] { Point("a", 2 * 2000, ("vcpu-switch", 2)), Point("b", 4 * 2000, ("vcpu-switch", 4)) };
        var result = Calibrator.Fit(points, new CostModel(), ["vcpu-switch"]);
        var term = result.Terms.Single();
        Assert.That((term.Value, term.AtBound), Is.EqualTo((CostModel.Term("vcpu-switch").Max, true)));
    }

    [Test]
    public void TermsTheDataCannotSeparateShareTheChangeAndKeepTheTotal()
    {
        // Every round trip pays l0-nested-exit and l0-nested-entry once: only their sum is measured.
        var result = Calibrator.Fit([Point("rt", 6000, ("l0-nested-exit", 1), ("l0-nested-entry", 1))], new CostModel(), ["l0-nested-exit", "l0-nested-entry"]);
        Assert.That(result.Model["l0-nested-exit"] + result.Model["l0-nested-entry"], Is.EqualTo(6000).Within(1));
        Assert.That(result.Model["l0-nested-exit"], Is.EqualTo(result.Model["l0-nested-entry"]).Within(1), "equal priors and ranges: an equal share");
    }

    [Test]
    public void NoPointIsAnError() =>
        Assert.That(() => Calibrator.Fit([], new CostModel()), Throws.ArgumentException.With.Message.Contains("no measured point"));

    [Test]
    public void TheShippedDefaultIsWhatCalibrateMakesFromThePublishedAnchors()
    {
        // Costs/default.costs is not hand-tuned: it is the output of
        //   calibrate --table Calibration/kvm-2019-vmx-optimizations.tsv --only cpuid,vmcall,inl_from_qemu --out Costs/default.costs
        // and this test makes it again and compares.
        var input = new CalibrateCommand.CalibrationInput(null, null, Suite.PublishedFile, null, new HashSet<string> { "cpuid", "vmcall", "inl_from_qemu" });
        var fitted = CalibrateCommand.Calibrate(input, new CostModel(), Options.DefaultRounds, 1).Model;
        var shipped = CostModel.Default();
        foreach (var term in CostModel.Terms)
        {
            Assert.That(shipped[term.Name], Is.EqualTo(fitted[term.Name]).Within(0.06), term.Name);
        }
    }

    [Test]
    public void CalibratingOnATestThatNeverExitsNamesTheLine()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "cpuid 14886\nmov_dr 40\n");
        var input = new CalibrateCommand.CalibrationInput(path, null, null, null, null);
        Assert.That(() => CalibrateCommand.Calibrate(input, new CostModel(), 200, 1),
            Throws.TypeOf<FormatException>().With.Message.StartsWith($"{path}(2): error: mov_dr never exits to L1"));
    }

    [Test]
    public void ACostsFileRoundTripsAndItsMistakesNameTheLine()
    {
        var model = new CostModel();
        model.Set("vmread", 12.5);
        var path = Path.GetTempFileName();
        File.WriteAllText(path, model.ToFileText("test"));
        var loaded = new CostModel();
        loaded.Load(path);
        Assert.That(loaded.Cycles, Is.EqualTo(model.Cycles));

        File.WriteAllText(path, "vmread 10\nvmread 11\n");
        Assert.That(() => new CostModel().Load(path), Throws.TypeOf<FormatException>().With.Message.EqualTo(
            $"{path}(2,1): error: cost 'vmread' is set twice (first on line 1)"));
        File.WriteAllText(path, "vmreed 10\n");
        Assert.That(() => new CostModel().Load(path), Throws.TypeOf<FormatException>().With.Message.StartsWith($"{path}(1,1): error: unknown cost 'vmreed'"));
    }
}
