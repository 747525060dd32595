using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using NUnit.Framework;

namespace VmcsGen.Package.Tests;

/// <summary>Runs dotnet (or a program) as a user would, with its own NuGet package folder, and logs what it printed.</summary>
internal static class Dotnet
{
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>Runs <c>dotnet ARGUMENTS</c> in <paramref name="directory"/>; a non-zero exit fails the test unless expected.</summary>
    public static string Run(string directory, string packages, bool expectFailure, params string[] arguments) =>
        Program("dotnet", directory, packages, expectFailure ? null : 0, arguments).Output;

    /// <summary>Runs a program; returns its exit status and its stdout + stderr. <paramref name="status"/>, when given, is asserted.</summary>
    public static (int Status, string Output, string Stdout) Program(string program, string directory, string packages, int? status, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["NUGET_PACKAGES"] = packages;
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        start.Environment.Remove("MSBuildSDKsPath");
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { } host)
        {
            // An installed tool's launcher finds the runtime here when dotnet is not where it looks by default.
            start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(host);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var name = Path.GetFileName(program);
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{name} {string.Join(' ', arguments)} did not finish in 5 minutes");
        }

        var output = stdout.Result + stderr.Result;
        TestContext.Out.WriteLine($"$ {name} {string.Join(' ', arguments)}  (in {directory})\n{output}");
        if (status is { } expected)
        {
            Assert.That(process.ExitCode, Is.EqualTo(expected), $"{name} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}");
        }

        return (process.ExitCode, output, stdout.Result);
    }

    public static string RepositoryRoot([CallerFilePath] string path = "")
    {
        var directory = Path.GetDirectoryName(path);
        while (directory is not null && !File.Exists(Path.Combine(directory, "VmcsGen.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory ?? throw new InvalidOperationException("VmcsGen.sln not found above " + path);
    }
}

/// <summary>
/// Both packages, VmcsGen (the library) and VmcsGen.Sim (the tool), packed once per test run from the Release build into
/// one local folder feed, under a fresh pre-release version.
/// </summary>
[SetUpFixture]
public sealed class LocalFeed
{
    private static readonly Lazy<(string Directory, string Version)> Packed = new(Pack);

    public static string Directory => Packed.Value.Directory;

    public static string Version => Packed.Value.Version;

    /// <summary>A nuget.config that makes the feed the only source.</summary>
    public static string NuGetConfig => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <clear />
            <add key="local" value="{Directory}" />
          </packageSources>
        </configuration>
        """;

    [OneTimeTearDown]
    public void Clean()
    {
        if (Packed.IsValueCreated)
        {
            try
            {
                System.IO.Directory.Delete(Path.GetDirectoryName(Directory)!, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static (string, string) Pack()
    {
        var work = System.IO.Directory.CreateTempSubdirectory("vmcsgen-feed-").FullName;
        var feed = Path.Combine(work, "feed");
        var version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var root = Dotnet.RepositoryRoot();
        foreach (var project in new[] { Path.Combine("runtime", "VmcsGen.Runtime", "VmcsGen.Runtime.csproj"),
            Path.Combine("samples", "NestedSim", "NestedSim.csproj") })
        {
            Dotnet.Run(root, Path.Combine(work, "packages"), false, "pack", Path.Combine(root, project), "-c", Dotnet.Configuration, "--no-build", "-o", feed,
                "-p:PackageVersion=" + version);
        }

        return (feed, version);
    }
}
