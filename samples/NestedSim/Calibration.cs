using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Samples.NestedSim;

/// <summary>One measured figure to fit: the model's units of each cost term for it, and the measured cycles.</summary>
public sealed record CalibrationPoint(string Label, IReadOnlyDictionary<string, double> Units, double Measured, string Origin);

/// <summary>A fitted term: its prior, the fitted value, its range, and whether the fit stopped at a bound.</summary>
public sealed record FittedTerm(string Name, double Prior, double Value, double Min, double Max)
{
    public bool AtBound => Value <= Min + 1e-6 || Value >= Max - 1e-6;
}

/// <summary>The fitted model and how well it explains each point.</summary>
public sealed record CalibrationResult(CostModel Model, IReadOnlyList<FittedTerm> Terms, IReadOnlyList<(CalibrationPoint Point, double Modelled)> Residuals)
{
    public double RmsRelativeError => Math.Sqrt(Residuals.Average(r => Math.Pow((r.Modelled - r.Point.Measured) / r.Point.Measured, 2)));
}

/// <summary>
/// Fits the uncertain cost terms to measured cycles by bounded least squares: minimise Σ ((modelled − measured) / measured)²
/// + λ Σ ((value − prior) / range)², each term held inside its stated range. The relative residuals weigh a 47,000-cycle
/// test like a 15,000-cycle one; the small prior term (λ) makes the answer unique when the data cannot tell two terms apart
/// (all per-round-trip terms move together on every point), splitting the change in proportion to each term's range.
/// Solved exactly by an active-set method on the box (<see cref="BoxQuadratic"/>).
/// </summary>
public static class Calibrator
{
    public const double PriorWeight = 1e-7;

    /// <param name="points">The measurements and their units (from a simulation run).</param>
    /// <param name="start">Values of the terms that are not fitted, and the priors' source for those that are.</param>
    /// <param name="free">The terms to fit; default: every uncertain term the points exercise.</param>
    public static CalibrationResult Fit(IReadOnlyList<CalibrationPoint> points, CostModel start, IReadOnlyCollection<string>? free = null)
    {
        if (points.Count == 0)
        {
            throw new ArgumentException("calibrate: no measured point to fit");
        }

        var terms = CostModel.Terms;
        var fit = (free ?? terms.Where(t => t.Uncertain && points.Any(p => p.Units.GetValueOrDefault(t.Name) != 0)).Select(t => t.Name).ToList())
            .ToHashSet(StringComparer.Ordinal);
        var index = terms.Select((t, i) => (t, i)).ToDictionary(x => x.t.Name, x => x.i, StringComparer.Ordinal);
        var x = terms.Select(t => start[t.Name]).ToArray();
        var a = points.Select(p => terms.Select(t => p.Units.GetValueOrDefault(t.Name)).ToArray()).ToArray();
        var vars = terms.Select((t, j) => (t, j)).Where(v => fit.Contains(v.t.Name)).Select(v => v.j).ToArray();

        // The quadratic ½ yᵀHy − gᵀy over the fitted terms y, the others held at their values.
        var m = vars.Length;
        var h = new double[m, m];
        var g = new double[m];
        for (var i = 0; i < points.Count; i++)
        {
            var w = 1.0 / (points[i].Measured * points[i].Measured);
            var rest = points[i].Measured;
            for (var j = 0; j < terms.Count; j++)
            {
                if (!fit.Contains(terms[j].Name))
                {
                    rest -= a[i][j] * x[j];
                }
            }

            for (var p = 0; p < m; p++)
            {
                g[p] += w * a[i][vars[p]] * rest;
                for (var q = 0; q < m; q++)
                {
                    h[p, q] += w * a[i][vars[p]] * a[i][vars[q]];
                }
            }
        }

        var lo = new double[m];
        var hi = new double[m];
        for (var p = 0; p < m; p++)
        {
            var term = terms[vars[p]];
            var range = term.Max - term.Min;
            h[p, p] += PriorWeight / (range * range);
            g[p] += PriorWeight * term.Prior / (range * range);
            (lo[p], hi[p]) = (term.Min, term.Max);
        }

        var y = BoxQuadratic(h, g, lo, hi);
        for (var p = 0; p < m; p++)
        {
            x[vars[p]] = y[p];
        }

        var result = new CostModel();
        foreach (var term in terms)
        {
            result.Set(term.Name, x[index[term.Name]]);
        }

        var fitted = terms.Where(t => fit.Contains(t.Name)).Select(t => new FittedTerm(t.Name, t.Prior, x[index[t.Name]], t.Min, t.Max)).ToList();
        var residuals = points.Select((p, i) => (p, Dot(a[i], x))).ToList();
        return new CalibrationResult(result, fitted, residuals);
    }

    /// <summary>
    /// Minimises ½ yᵀHy − gᵀy for a positive-definite H inside the box [lo, hi] by an active-set method: solve on the free
    /// variables, pin the one that leaves the box the farthest to its bound, release a pinned one whose gradient points
    /// inside, until neither happens. Exact for these small problems (a few dozen terms).
    /// </summary>
    internal static double[] BoxQuadratic(double[,] h, double[] g, double[] lo, double[] hi)
    {
        var m = g.Length;
        var y = new double[m];
        var pinned = new int[m]; // 0 free, -1 at lo, +1 at hi
        for (var iteration = 0; iteration < 10 * (m + 1); iteration++)
        {
            var free = Enumerable.Range(0, m).Where(p => pinned[p] == 0).ToArray();
            for (var p = 0; p < m; p++)
            {
                y[p] = pinned[p] < 0 ? lo[p] : pinned[p] > 0 ? hi[p] : y[p];
            }

            var solved = Solve(h, g, y, free);
            var worst = -1;
            var worstBy = 0.0;
            foreach (var (p, k) in free.Select((p, k) => (p, k)))
            {
                var by = Math.Max(lo[p] - solved[k], solved[k] - hi[p]) / (hi[p] - lo[p]);
                if (by > worstBy + 1e-12)
                {
                    (worst, worstBy) = (p, by);
                }
            }

            if (worst >= 0)
            {
                pinned[worst] = solved[Array.IndexOf(free, worst)] < lo[worst] ? -1 : 1;
                continue;
            }

            foreach (var (p, k) in free.Select((p, k) => (p, k)))
            {
                y[p] = solved[k];
            }

            var release = -1;
            var strongest = 0.0;
            for (var p = 0; p < m; p++)
            {
                if (pinned[p] == 0)
                {
                    continue;
                }

                var gradient = -g[p];
                for (var q = 0; q < m; q++)
                {
                    gradient += h[p, q] * y[q];
                }

                // At lo, a negative gradient wants y larger; at hi, a positive one wants it smaller.
                var inward = pinned[p] < 0 ? -gradient : gradient;
                if (inward > strongest * (1 + 1e-9) && inward > 1e-15)
                {
                    (release, strongest) = (p, inward);
                }
            }

            if (release < 0)
            {
                return y;
            }

            pinned[release] = 0;
        }

        return y;
    }

    /// <summary>Solves H_FF y_F = g_F − H_FB y_B by Gaussian elimination with partial pivoting.</summary>
    private static double[] Solve(double[,] h, double[] g, double[] y, int[] free)
    {
        var n = free.Length;
        var matrix = new double[n, n + 1];
        for (var r = 0; r < n; r++)
        {
            var rhs = g[free[r]];
            for (var q = 0; q < g.Length; q++)
            {
                if (Array.IndexOf(free, q) < 0)
                {
                    rhs -= h[free[r], q] * y[q];
                }
            }

            for (var c = 0; c < n; c++)
            {
                matrix[r, c] = h[free[r], free[c]];
            }

            matrix[r, n] = rhs;
        }

        for (var c = 0; c < n; c++)
        {
            var pivot = c;
            for (var r = c + 1; r < n; r++)
            {
                if (Math.Abs(matrix[r, c]) > Math.Abs(matrix[pivot, c]))
                {
                    pivot = r;
                }
            }

            for (var k = 0; k <= n; k++)
            {
                (matrix[c, k], matrix[pivot, k]) = (matrix[pivot, k], matrix[c, k]);
            }

            for (var r = 0; r < n; r++)
            {
                if (r == c || matrix[r, c] == 0)
                {
                    continue;
                }

                var factor = matrix[r, c] / matrix[c, c];
                for (var k = c; k <= n; k++)
                {
                    matrix[r, k] -= factor * matrix[c, k];
                }
            }
        }

        var result = new double[n];
        for (var r = 0; r < n; r++)
        {
            result[r] = matrix[r, n] / matrix[r, r];
        }

        return result;
    }

    private static double Dot(double[] row, double[] x)
    {
        var sum = 0.0;
        for (var j = 0; j < row.Length; j++)
        {
            sum += row[j] * x[j];
        }

        return sum;
    }
}
