using System.Globalization;
using System.Text;

namespace VmcsGen.Samples.NestedSim;

/// <summary>Writes a workload in the workload file format (samples/NestedSim/README.md), which <see cref="WorkloadParser"/> reads back.</summary>
public static class WorkloadWriter
{
    /// <summary>The workload as the text of a <c>.workload</c> file.</summary>
    public static string ToText(Workload workload)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"workload   {workload.Name}");
        if (workload.Description.Length > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"describe   {workload.Description}");
        }

        if (workload.BasedOn.Length > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"based-on   {workload.BasedOn}");
        }

        if (workload.Setup.Count > 0)
        {
            text.AppendLine().AppendLine("setup");
            foreach (var step in workload.Setup)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  write {step.Field,-30} {step.Value}");
            }

            text.AppendLine("end");
        }

        foreach (var exit in workload.Exits)
        {
            text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"exit {exit.Name} weight {exit.Weight}");
            foreach (var step in exit.Steps)
            {
                var line = step.Kind switch
                {
                    StepKind.Hardware => $"  hw    {step.Field,-30} {step.Value}",
                    StepKind.Read => $"  read  {step.Field}",
                    StepKind.Write => $"  write {step.Field,-30} {step.Value}",
                    _ => $"  event {step.Field}",
                };
                text.AppendLine(step.Probability < 1 ? line + $"  p={step.Probability.ToString(CultureInfo.InvariantCulture)}" : line);
            }

            text.AppendLine("end");
        }

        return text.ToString();
    }
}
