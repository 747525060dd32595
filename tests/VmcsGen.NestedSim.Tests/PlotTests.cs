using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Xml.Linq;
using NUnit.Framework;
using SkiaSharp;
using VmcsGen.Samples.NestedSim;
using VmcsGen.Samples.NestedSim.Cli;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// <c>--plot</c>: each kind of picture is written, is a valid SVG or PNG of the size asked for, and carries the labels of
/// the data it draws (test names, strategies, fields, points), as the command line makes it. Short runs: the pictures'
/// numbers come from the same results as the tables, which other tests hold.
/// </summary>
[NonParallelizable]
public sealed class PlotTests
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "vmcsgen-plots-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [OneTimeTearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    /// <summary>Runs the tool's command line with stdout captured (the JSON or CSV the picture was drawn from).</summary>
    private static string Run(params string[] args)
    {
        var stdout = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            Assert.That(SimApp.Execute(args), Is.EqualTo(Program.Ran));
            return output.ToString();
        }
        finally
        {
            Console.SetOut(stdout);
        }
    }

    private string File(string name) => Path.Combine(_directory, name);

    /// <summary>The SVG's size, and all its text joined by spaces (the labels the picture shows).</summary>
    private static (int Width, int Height, string Text) ReadSvg(string path)
    {
        var svg = XDocument.Load(path).Root!;
        Assert.That(svg.Name, Is.EqualTo(XName.Get("svg", "http://www.w3.org/2000/svg")), "an SVG document");
        var text = string.Join(" ", svg.Descendants(XName.Get("text", "http://www.w3.org/2000/svg")).Select(t => t.Value.Trim()));
        return (int.Parse(svg.Attribute("width")!.Value), int.Parse(svg.Attribute("height")!.Value), text);
    }

    /// <summary>A PNG file that decodes completely; its size.</summary>
    private static (int Width, int Height) ReadPng(string path)
    {
        var bytes = System.IO.File.ReadAllBytes(path);
        Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "the PNG signature");
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.That(bitmap, Is.Not.Null, "the PNG decodes");
        return (bitmap.Width, bitmap.Height);
    }

    [Test]
    public void TheRunsLadderIsDrawnPerWorkloadWithEveryRung()
    {
        Run("--workload", "cpuid-loop", "--workload", "idle", "--rounds", "300", "--format", "csv", "--plot", File("ladder.svg"), "--plot-size", "1000x700");
        var (width, height, text) = ReadSvg(File("ladder.svg"));
        Assert.That((width, height), Is.EqualTo((1000, 700)));
        Assert.That(text, Does.Contain("cpuid-loop").And.Contain("idle").And.Contain("kvm-2018").And.Contain("+ro-split")
            .And.Contain("+compile-time-offsets").And.Contain("+rare-sync").And.Contain("+control-shadows"));
        Assert.That(text, Does.Contain("modelled cycles per round trip").And.Contain("fixed work").And.Contain("counted VMCS work"));
        Assert.That(text, Does.Not.Contain("no-shadow"), "the ladder starts at kvm-2018");

        Run("--workload", "idle", "--rounds", "300", "--format", "csv", "--plot", File("ladder.png"));
        Assert.That(ReadPng(File("ladder.png")), Is.EqualTo((Plots.DefaultWidth, Plots.DefaultHeight)));
    }

    [Test]
    public void TheSuiteIsDrawnAgainstThePublishedChangesWithTheBand()
    {
        var json = Run("suite", "vmexit", "--rounds", "300", "--format", "json", "--plot", File("suite.svg"));
        var (width, height, text) = ReadSvg(File("suite.svg"));
        Assert.That((width, height), Is.EqualTo((1200, 800)));
        using var document = JsonDocument.Parse(json);
        var published = document.RootElement.GetProperty("tests").EnumerateArray()
            .Where(t => t.GetProperty("published").ValueKind != JsonValueKind.Null).Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.That(published, Has.Count.EqualTo(13), "the tests of the 2019 table");
        Assert.That(published, Has.All.Matches<string>(name => text.Contains(name, StringComparison.Ordinal)),
            "every test with a published figure is labelled");
        Assert.That(text, Does.Contain("published change").And.Contain("modelled change").And.Contain("± 2.5 points").And.Contain("(%)"));

        Run("suite", "vmexit", "--rounds", "300", "--format", "csv", "--plot", File("suite.png"), "--plot-size", "640x480");
        Assert.That(ReadPng(File("suite.png")), Is.EqualTo((640, 480)));
    }

    [Test]
    public void ACompareIsDrawnPerWorkloadWithItsLargestFieldChange()
    {
        var json = Run("compare", "kvm-2018", "kvm", "--workload", "idle", "--workload", "cpuid-loop", "--rounds", "300", "--format", "json", "--plot",
            File("compare.svg"));
        var (_, _, text) = ReadSvg(File("compare.svg"));
        using var document = JsonDocument.Parse(json);
        var largest = document.RootElement.GetProperty("changes").EnumerateArray()
            .Where(c => c.GetProperty("cyclesSaved").ValueKind == JsonValueKind.Number)
            .MaxBy(c => Math.Abs(c.GetProperty("cyclesSaved").GetDouble()));
        Assert.That(text, Does.Contain(largest.GetProperty("field").GetString()), "the largest change is labelled");
        Assert.That(text, Does.Contain("A = kvm-2018.vmcs").And.Contain("B = kvm.vmcs").And.Contain("idle").And.Contain("cpuid-loop").And.Contain("weighted"));
        Assert.That(text, Does.Contain("modelled cycles per round trip").And.Contain("cycles per round trip saved by the change alone"));

        Run("compare", "kvm-2018", "kvm", "--workload", "idle", "--rounds", "300", "--plot", File("compare.png"), "--plot-size", "1200x800");
        Assert.That(ReadPng(File("compare.png")), Is.EqualTo((1200, 800)));
    }

    [Test]
    public void AnAdvisorProposalIsDrawnWithTheProposalsLayout()
    {
        Run("advise", "--manifest", "kvm", "--workload", "idle", "--rounds", "300", "--safety", "10", "--quiet", "--plot", File("advise.svg"));
        var (_, _, text) = ReadSvg(File("advise.svg"));
        Assert.That(text, Does.Contain("kvm.vmcs").And.Contain("proposal").And.Contain("idle").And.Contain("field changes"));
    }

    [Test]
    public void CalibrationResidualsAreDrawnPerPoint()
    {
        Run("calibrate", "--table", "Calibration/kvm-2019-vmx-optimizations.tsv", "--only", "cpuid,vmcall", "--rounds", "300", "--plot", File("calibrate.svg"));
        var (_, _, text) = ReadSvg(File("calibrate.svg"));
        Assert.That(text, Does.Contain("cpuid (kvm-2018)").And.Contain("cpuid (kvm)").And.Contain("vmcall (kvm-2018)").And.Contain("vmcall (kvm)"));
        Assert.That(text, Does.Contain("residual").And.Contain("(%)").And.Contain("4 points"));
    }

    [TestCase("--plot", "ladder.jpg", "--plot takes FILE.svg or FILE.png, got 'ladder.jpg'")]
    [TestCase("--plot-size", "100x800", "--plot-size takes WIDTHxHEIGHT in pixels, each from 200 to 10,000, got '100x800'")]
    [TestCase("--plot-size", "wide", "--plot-size takes WIDTHxHEIGHT in pixels, each from 200 to 10,000, got 'wide'")]
    public void ABadPlotOptionIsOneLineAndNothingRuns(string option, string value, string message)
    {
        var args = option == "--plot" ? new[] { "--plot", value } : new[] { "--plot", File("never.svg"), option, value };
        var error = Assert.Throws<ArgumentException>(() => SimApp.Execute(["--workload", "idle", "--rounds", "100", .. args]))!;
        Assert.That(error.Message, Is.EqualTo(message));
        Assert.That(Directory.EnumerateFiles(_directory, "never*"), Is.Empty);
    }
}
