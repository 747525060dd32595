using System;
using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Bochs.Tests;

/// <summary>
/// The Bochs runner the tests share, and the rule for a machine without Bochs: skipped with a message naming the
/// packages, except in CI (CI=true), where a skip would hide that nothing ran, so the test fails.
/// </summary>
internal static class BochsFixture
{
    private static readonly Lazy<(BochsRunner Runner, VmxProfile Profile)?> Shared = new(() =>
    {
        var runner = new BochsRunner();
        return runner.Missing() is null ? (runner, runner.ReadProfile()) : null;
    });

    /// <summary>The runner, or Ignore (Fail in CI) when Bochs is not installed.</summary>
    public static BochsRunner Runner => Require().Runner;

    /// <summary>SoftwareVmx configured as the CPU Bochs emulates (read from its MSRs once per test run).</summary>
    public static VmxProfile Profile => Require().Profile;

    private static (BochsRunner Runner, VmxProfile Profile) Require()
    {
        if (Shared.Value is { } value)
        {
            return value;
        }

        var message = new BochsRunner().Missing() + " The Bochs tests did not run.";
        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            Assert.Fail(message);
        }

        Assert.Ignore(message);
        throw new InvalidOperationException("unreachable");
    }
}
