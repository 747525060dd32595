using System.ComponentModel;
using Spectre.Console.Cli;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary><c>compare A B</c>: two classifications of the same fields on the same workloads, field by field.</summary>
public sealed class CompareSettings : AdvisorSettings
{
    [CommandArgument(0, "<A>")]
    [Description("The first manifest: a name compiled into NestedSim (kvm-2018, kvm, ...) or a .vmcs file.")]
    public string A { get; set; } = string.Empty;

    [CommandArgument(1, "<B>")]
    [Description("The second manifest, of the same fields.")]
    public string B { get; set; } = string.Empty;

    public AdviseOptions ToAdviseOptions() => ToAdviseOptions(positional: [A, B]);
}

public sealed class CompareVerb : Verb<CompareSettings>
{
    public static void Add(IConfigurator config) =>
        config.AddCommand<CompareVerb>("compare")
            .WithDescription("Runs A and B (two manifests of the same fields) on the same workloads and shows, field by field, what each change costs: " +
                "a reviewer's view of a manifest edit.")
            .WithExample("compare", "kvm-2018", "kvm")
            .WithExample("compare", "kvm-2018", "kvm", "--plot", "compare.svg")
            .WithExample("compare", "kvm", "proposal.vmcs", "--workload", "idle", "--format", "json");

    protected override int Run(CompareSettings settings) =>
        AdviseCommand.Compare(settings.ToAdviseOptions());
}
