using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using ScottPlot;
using SkiaSharp;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim;

/// <summary>A picture to write: <c>--plot FILE.svg|.png</c> and <c>--plot-size WIDTHxHEIGHT</c>.</summary>
public sealed record PlotFile(string Path, int Width = Plots.DefaultWidth, int Height = Plots.DefaultHeight)
{
    public bool IsSvg => System.IO.Path.GetExtension(Path).Equals(".svg", StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes <paramref name="figure"/> to the file; tells so on <paramref name="console"/> when given (tables, not JSON).</summary>
    public void Write(Multiplot figure, Spectre.Console.IAnsiConsole? console)
    {
        Plots.Save(figure, Path, Width, Height);
        console?.Write(new Spectre.Console.Markup($"wrote picture [bold]{Spectre.Console.Markup.Escape(Path)}[/] ({Width}×{Height}){Environment.NewLine}"));
    }
}

/// <summary>
/// The pictures of <c>--plot FILE.svg|.png</c> (ScottPlot 5, rendered by SkiaSharp without any GUI): the run's ladder as a
/// waterfall per workload, the suite against the published changes, an advisor proposal, calibration residuals. Every axis
/// says its unit; the default size, 1200×800, is the size they are laid out for.
/// </summary>
public static class Plots
{
    public const int DefaultWidth = 1200;
    public const int DefaultHeight = 800;

    private static readonly Color Fixed = Color.FromHex("#9e9e9e");
    private static readonly Color Counted = Color.FromHex("#1f77b4");
    private static readonly Color Saved = Color.FromHex("#2ca02c");
    private static readonly Color Added = Color.FromHex("#d62728");
    private static readonly Color Published = Color.FromHex("#000000");
    private static readonly Color Band = Color.FromHex("#2ca02c").WithAlpha(0.22);

    /// <summary>
    /// The run: per workload, cycles per round trip from kvm-2018 through each rung of the 2019 ladder to kvm (and any
    /// --manifest strategy after it); the end bars split into fixed and counted work, each rung a floating bar of its Δ.
    /// The no-shadow strategy (every L1 access exits) is left out: it would flatten the ladder. The y axis starts below the
    /// lowest fixed part, which is the same on every strategy, so that the rungs' Δ are visible; the axis says so.
    /// </summary>
    public static Multiplot Ladder(IReadOnlyList<WorkloadResult> results)
    {
        var plots = new List<Plot>();
        foreach (var result in results)
        {
            var plot = NewPlot();
            var start = result.Strategies.ToList().FindIndex(s => s.Strategy.Name == Strategies.Baseline);
            var steps = result.Strategies.Skip(Math.Max(start, 0)).ToList();
            var bars = new List<Bar>();
            var labels = new List<string>();
            double previous = 0;
            for (var i = 0; i < steps.Count; i++)
            {
                var s = steps[i];
                var (fixedCycles, total) = (s.PerRound(s.Cost.Fixed), s.CyclesPerRound);
                var name = s.Strategy.Name + (s.Faithful ? string.Empty : " ✗");
                var isRung = i > 0 && s.Strategy.Name.StartsWith('+');
                if (isRung)
                {
                    bars.Add(new Bar
                    {
                        Position = i, ValueBase = previous, Value = total, FillColor = total <= previous ? Saved : Added,
                        Label = Signed(total - previous),
                    });
                }
                else
                {
                    bars.Add(new Bar { Position = i, ValueBase = 0, Value = fixedCycles, FillColor = Fixed });
                    bars.Add(new Bar
                    {
                        Position = i, ValueBase = fixedCycles, Value = total, FillColor = Counted,
                        Label = N(total),
                    });
                }

                labels.Add(name);
                previous = total;
            }

            var barPlot = plot.Add.Bars(bars.ToArray());
            barPlot.ValueLabelStyle.FontSize = 11;
            plot.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray(), labels.ToArray());
            Rotate(plot);
            var floor = steps.Min(s => s.PerRound(s.Cost.Fixed));
            var top = steps.Max(s => s.CyclesPerRound);
            var bottom = Math.Max(0, floor - (top - floor) * 0.25);
            plot.Axes.SetLimitsY(bottom, top + (top - bottom) * 0.08);
            plot.Axes.SetLimitsX(-0.6, labels.Count - 0.4);
            var last = steps.LastOrDefault(s => s.Strategy.Name == "kvm") ?? steps[^1];
            plot.Title($"{result.Workload.Name}: {Signed(last.CyclesPerRound - steps[0].CyclesPerRound)} " +
                $"({Percent(steps[0].CyclesPerRound, last.CyclesPerRound)})", 14);
            plot.YLabel(bottom > 0 ? $"modelled cycles per round trip (axis from {N(bottom)})" : "modelled cycles per round trip", 12);
            plot.XLabel("strategy (the 2019 ladder)", 12);
            plots.Add(plot);
        }

        var figure = Figure(plots);
        var legend = plots[0];
        legend.Legend.ManualItems.Add(new LegendItem { LabelText = "fixed work (exit, entry, L0/L1 paths)", FillColor = Fixed });
        legend.Legend.ManualItems.Add(new LegendItem { LabelText = "counted VMCS work", FillColor = Counted });
        legend.Legend.ManualItems.Add(new LegendItem { LabelText = "saved by the rung", FillColor = Saved });
        legend.ShowLegend(Alignment.LowerCenter);
        figure.Layout = results.Count <= 3 ? new ScottPlot.MultiplotLayouts.Columns() : new ScottPlot.MultiplotLayouts.Grid((results.Count + 2) / 3, 3);
        return figure;
    }

    /// <summary>
    /// The suite: per test with a published figure, the modelled and the published change after vs before the 2019 series,
    /// the published one with a band of ± <paramref name="band"/> percentage points around it (the bound the suite's test
    /// holds the tests that were not fitted to).
    /// </summary>
    public static Multiplot Suite(string suite, IReadOnlyList<SuiteTest> tests, double band)
    {
        var plot = NewPlot();
        var shown = tests.Where(t => t.Published is not null).ToList();
        var withoutPublished = shown.Count == 0;
        if (withoutPublished)
        {
            shown = tests.Where(t => t.BeforeCycles > 0).ToList();
        }

        for (var i = 0; i < shown.Count; i++)
        {
            if (shown[i].Published is { } p)
            {
                var rectangle = plot.Add.Rectangle(i - 0.35, i + 0.35, p.Change * 100 - band, p.Change * 100 + band);
                rectangle.FillColor = Band;
                rectangle.LineWidth = 0;
            }
        }

        var xs = Enumerable.Range(0, shown.Count).Select(i => (double)i).ToArray();
        if (!withoutPublished)
        {
            var published = plot.Add.Markers(xs, shown.Select(t => t.Published!.Change * 100).ToArray(), MarkerShape.HorizontalBar, 28, Published);
            published.MarkerLineWidth = 3;
            published.LegendText = "published change (2019 cover letter)";
        }

        var modelled = plot.Add.Markers(xs, shown.Select(t => t.Change * 100).ToArray(), MarkerShape.FilledCircle, 11, Counted);
        modelled.LegendText = "modelled change";
        if (!withoutPublished)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"published ± {band.ToString("0.#", CultureInfo.InvariantCulture)} points (the suite " +
                "test's bound)", FillColor = Band });
        }

        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.SetTicks(xs, shown.Select(t => t.Name).ToArray());
        Rotate(plot);
        plot.Axes.SetLimitsX(-0.6, shown.Count - 0.4);
        var values = shown.Select(t => t.Change * 100).Concat(shown.Where(t => t.Published is not null).SelectMany(t =>
            new[] { t.Published!.Change * 100 - band, t.Published.Change * 100 + band })).DefaultIfEmpty(0).ToList();
        var (low, high) = (Math.Min(0, values.Min()), Math.Max(0, values.Max()));
        plot.Axes.SetLimitsY(low - (high - low) * 0.1 - 0.5, high + (high - low) * 0.1 + 0.5);
        plot.Add.HorizontalLine(0, 1, Published.WithAlpha(0.4), LinePattern.Dashed);
        var (from, to) = tests.Count == 0 ? (Strategies.Baseline, "kvm") : (tests[0].Before.Strategy.Name, tests[0].After.Strategy.Name);
        plot.Title($"suite {suite}: change per test iteration, {from} → {to}", 16);
        plot.YLabel("change in cycles per test iteration, after vs before (%)", 13);
        plot.XLabel(withoutPublished ? "test (no published figures for this suite)" : "test of the suite with a published figure", 13);
        return new Multiplot(plot);
    }

    /// <summary>
    /// An advisor proposal (advise) or a comparison (compare): cycles per round trip before and after per workload, and the
    /// <paramref name="top"/> field changes that save the most on their own.
    /// </summary>
    public static Multiplot Advice(Advice advice, string beforeName, string afterName, int top = 12)
    {
        var workloads = NewPlot();
        var rows = advice.PerWorkload.Select(w => (Name: w.Workload, w.Before, w.After)).ToList();
        if (rows.Count > 1)
        {
            rows.Add(("weighted", advice.WeightedBefore, advice.WeightedAfter));
        }

        var bars = new List<Bar>();
        for (var i = 0; i < rows.Count; i++)
        {
            bars.Add(new Bar { Position = i * 3, Value = rows[i].Before, FillColor = Fixed, Label = N(rows[i].Before) });
            bars.Add(new Bar { Position = i * 3 + 1, Value = rows[i].After, FillColor = Counted, Label = N(rows[i].After) });
        }

        var barPlot = workloads.Add.Bars(bars.ToArray());
        barPlot.ValueLabelStyle.FontSize = 11;
        workloads.Axes.Bottom.SetTicks(rows.Select((_, i) => i * 3 + 0.5).ToArray(), rows.Select(r => $"{r.Name} {Percent(r.Before, r.After)}").ToArray());
        Rotate(workloads);
        workloads.Axes.SetLimitsY(0, rows.Max(r => Math.Max(r.Before, r.After)) * 1.3);
        workloads.Legend.ManualItems.Add(new LegendItem { LabelText = beforeName, FillColor = Fixed });
        workloads.Legend.ManualItems.Add(new LegendItem { LabelText = afterName, FillColor = Counted });
        workloads.ShowLegend(Alignment.UpperRight);
        workloads.Title("per workload", 14);
        workloads.YLabel("modelled cycles per round trip", 12);
        workloads.XLabel("workload", 12);

        var fields = NewPlot();
        var changes = advice.Changes.Where(c => !double.IsNaN(c.Cycles)).OrderByDescending(c => Math.Abs(c.Cycles)).Take(top).Reverse().ToList();
        var required = advice.Changes.Count(c => double.IsNaN(c.Cycles));
        var fieldBars = changes.Select((c, i) => new Bar
        {
            Position = i, Value = c.Cycles, FillColor = c.Cycles >= 0 ? Saved : Added, Orientation = Orientation.Horizontal,
            Label = c.Cycles.ToString("0.0", CultureInfo.InvariantCulture),
        }).ToArray();
        if (fieldBars.Length > 0)
        {
            var horizontal = fields.Add.Bars(fieldBars);
            horizontal.Horizontal = true;
            horizontal.ValueLabelStyle.FontSize = 10;
            fields.Axes.Left.SetTicks(
                Enumerable.Range(0, changes.Count).Select(i => (double)i).ToArray(),
                changes.Select(c => $"{c.After.Name}: {c.Before.Describe()} → {c.After.Describe()}").ToArray());
            var extent = changes.Max(c => Math.Abs(c.Cycles));
            fields.Axes.SetLimitsX(Math.Min(0, changes.Min(c => c.Cycles)) - extent * 0.05, extent * 1.2);
            fields.Axes.SetLimitsY(-0.6, changes.Count - 0.4);
        }

        fields.Axes.Left.TickLabelStyle.FontSize = 10;
        fields.Title($"{changes.Count} largest of {advice.Changes.Count} field changes" + (required > 0 ? $" ({required} required, not shown)" : string.Empty),
            13);
        fields.XLabel("cycles per round trip saved by the change alone", 12);

        var figure = Figure([workloads, fields]);
        var layout = new ScottPlot.MultiplotLayouts.CustomGrid();
        layout.Set(workloads, new GridCell(0, 0, 1, 3, 1, 1));
        layout.Set(fields, new GridCell(0, 1, 1, 3, 1, 2));
        figure.Layout = layout;
        return figure;
    }

    /// <summary>Calibration: each point's residual, (modelled − measured) / measured.</summary>
    public static Multiplot Calibration(CalibrationResult result)
    {
        var plot = NewPlot();
        var points = result.Residuals.ToList();
        var bars = points.Select((r, i) =>
        {
            var residual = (r.Modelled - r.Point.Measured) / r.Point.Measured * 100;
            return new Bar { Position = i, Value = residual, FillColor = residual >= 0 ? Added : Counted, Label = residual.ToString("+0.00;-0.00;0.00",
                CultureInfo.InvariantCulture) };
        }).ToArray();
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        plot.Add.HorizontalLine(0, 1, Published.WithAlpha(0.5), LinePattern.Solid);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, points.Count).Select(i => (double)i).ToArray(), points.Select(r => r.Point.Label).ToArray());
        Rotate(plot);
        var extent = Math.Max(0.5, bars.Select(b => Math.Abs(b.Value)).DefaultIfEmpty(0).Max());
        plot.Axes.SetLimitsY(-extent * 1.3, extent * 1.3);
        plot.Axes.SetLimitsX(-0.6, points.Count - 0.4);
        plot.Title($"calibrate: {points.Count} points, RMS relative error {(result.RmsRelativeError * 100).ToString("0.00", CultureInfo.InvariantCulture)} %",
            16);
        plot.YLabel("residual: (modelled − measured) / measured (%)", 13);
        plot.XLabel("measured point (test and side)", 13);
        return new Multiplot(plot);
    }

    /// <summary>
    /// Writes the figure as SVG or PNG (by the file's extension) of exactly <paramref name="width"/>×<paramref name="height"/>
    /// pixels, through a temporary file, so that nothing half-written is left on an error.
    /// </summary>
    public static void Save(Multiplot figure, string path, int width = DefaultWidth, int height = DefaultHeight)
    {
        var temporary = path + ".tmp";
        try
        {
            if (Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase))
            {
                using (var stream = File.Create(temporary))
                using (var canvas = SKSvgCanvas.Create(SKRect.Create(width, height), stream))
                {
                    canvas.Clear(SKColors.White);
                    figure.Render(canvas, new PixelRect(0, width, height, 0));
                }
            }
            else
            {
                using var surface = SKSurface.Create(new SKImageInfo(width, height)) ?? throw new IOException(
                    $"--plot {path}: SkiaSharp could not make a {width}×{height} surface");
                surface.Canvas.Clear(SKColors.White);
                figure.Render(surface.Canvas, new PixelRect(0, width, height, 0));
                using var image = surface.Snapshot();
                using var png = image.Encode(SKEncodedImageFormat.Png, 100);
                using var stream = File.Create(temporary);
                png.SaveTo(stream);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>A figure of these plots (a new Multiplot starts with an empty plot of its own, which this one does not keep).</summary>
    private static Multiplot Figure(IReadOnlyList<Plot> plots)
    {
        var figure = new Multiplot(plots[0]);
        foreach (var plot in plots.Skip(1))
        {
            figure.AddPlot(plot);
        }

        return figure;
    }

    private static Plot NewPlot()
    {
        var plot = new Plot();
        if (SKFontManager.Default.FontFamilies.Contains("DejaVu Sans"))
        {
            plot.Font.Set("DejaVu Sans");
        }

        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        plot.Axes.Left.TickLabelStyle.FontSize = 11;
        return plot;
    }

    /// <summary>Category labels at 45°, with room below the axis.</summary>
    private static void Rotate(Plot plot)
    {
        plot.Axes.Bottom.TickLabelStyle.Rotation = -45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 130;
        plot.Grid.XAxisStyle.MajorLineStyle.Width = 0;
    }

    private static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Signed(double value) => (value < 0 ? "−" : "+") + Math.Abs(value).ToString("N0", CultureInfo.InvariantCulture);

    private static string Percent(double before, double after) =>
        before == 0 ? "–" : ((after - before) / before * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture) + " %";
}
