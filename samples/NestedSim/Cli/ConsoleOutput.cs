using System;
using Spectre.Console;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary>The console a verb prints its tables to.</summary>
internal static class ConsoleOutput
{
    /// <summary>
    /// A console on today's standard output, made anew per command: Spectre's static <c>AnsiConsole.Console</c> keeps the
    /// writer of its first use, so a host that redirects standard output later (the tests, an embedding program) would
    /// print to a stale or closed writer. Redirected output gets a fixed width so wide tables do not wrap.
    /// </summary>
    public static IAnsiConsole Current(int redirectedWidth)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = redirectedWidth;
        }

        return console;
    }
}
