using System.Threading;
using Spectre.Console.Cli;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary>
/// A verb of the tool: a Spectre.Console.Cli command whose settings were parsed and checked before <see cref="Run"/>.
/// Under <see cref="SimApp.Check"/> the verb is parsed and checked but not run (the documented command lines are tested so).
/// </summary>
public abstract class Verb<TSettings> : Command<TSettings>
    where TSettings : CommandSettings
{
    public sealed override int Execute(CommandContext context, TSettings settings, CancellationToken cancellationToken) =>
        SimApp.DryRun ? Program.Ran : Run(settings);

    /// <summary>Does the verb's work; returns the exit status.</summary>
    protected abstract int Run(TSettings settings);
}
