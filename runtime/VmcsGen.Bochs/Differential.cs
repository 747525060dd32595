using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>A recorded step where SoftwareVmx and Bochs disagree (the first one of its program).</summary>
public sealed record Divergence(int Index, GuestProgram Program, int Step, InstructionOutcome? Bochs, InstructionOutcome? Software, string? Deviation)
{
    /// <summary>The step (of <see cref="Program"/>) the outcomes belong to.</summary>
    public GuestStep Instruction => Program.Steps[Step];

    public override string ToString() =>
        $"program {Index}, step {Step} ({Instruction}): Bochs {Text(Bochs)}, SoftwareVmx {Text(Software)}" +
            (Deviation is null ? "" : $" [deviation {Deviation}]");

    /// <summary>An outcome, or "not run" when a VM exit had already ended the program on that side.</summary>
    public static string Text(InstructionOutcome? outcome) => outcome?.ToString() ?? "not run (a VM exit ended the program)";
}

/// <summary>The totals of a differential run.</summary>
public sealed record DiffReport(
    int Programs, int Instructions, int Boots, TimeSpan Elapsed, IReadOnlyList<Divergence> Divergences, IReadOnlyDictionary<string, int> Deviations,
    GuestProgram? FirstMinimalProgram, Divergence? FirstMinimalDivergence);

/// <summary>
/// SoftwareVmx against Bochs on the same programs: every recorded step's outcome compared (kind; error number; exception
/// vector and #PF error code; VMREAD/VMPTRST value; VM-exit reason, qualification, instruction information). A disagreement
/// that a documented Bochs deviation from the SDM explains (<see cref="BochsDeviations"/>) is counted by id; any other
/// is a divergence, and the first one is shrunk to a minimal program that still diverges.
/// </summary>
public sealed class DifferentialRun(BochsRunner runner, VmxProfile software, ProgramGenerator generator)
{
    public BochsRunner Runner { get; } = runner;

    public VmxProfile Software { get; } = software;

    public ProgramGenerator Generator { get; } = generator;

    /// <summary>Programs 0..count-1 of <paramref name="seed"/>, on Bochs and on SoftwareVmx.</summary>
    public DiffReport Run(int seed, int count, bool shrink = true, IProgress<int>? progress = null, CancellationToken cancellationToken = default,
        int first = 0)
    {
        var programs = Enumerable.Range(first, count).Select(i => Generator.Generate(seed, i)).ToList();
        var batch = Runner.Run(programs, progress, cancellationToken);
        var divergences = new List<Divergence>();
        var deviations = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < programs.Count; i++)
        {
            if (Compare(first + i, programs[i], batch.Programs[i]) is not { } d)
            {
                continue;
            }

            if (d.Deviation is { } id)
            {
                deviations[id] = deviations.GetValueOrDefault(id) + 1;
            }
            else
            {
                divergences.Add(d);
            }
        }

        GuestProgram? minimal = null;
        Divergence? minimalDivergence = null;
        if (shrink && divergences.Count > 0)
        {
            (minimal, minimalDivergence) = Shrink(divergences[0], cancellationToken);
        }

        return new DiffReport(count, batch.Instructions, batch.Boots, batch.Elapsed, divergences, deviations, minimal, minimalDivergence);
    }

    /// <summary>The first step where the records and SoftwareVmx's outcomes differ, or null when they agree.</summary>
    public Divergence? Compare(int index, GuestProgram program, IReadOnlyList<InstructionRecord> bochs)
    {
        var software = SoftwareRun.Execute(program, Software);
        var recorded = program.Steps.Select((s, i) => (s, i)).Where(p => p.s.IsRecorded).Select(p => p.i).ToList();
        for (var k = 0; k < Math.Max(software.Count, bochs.Count); k++)
        {
            if (k >= software.Count || k >= bochs.Count)
            {
                return new Divergence(index, program, recorded[k], k < bochs.Count ? bochs[k].Outcome : null, k < software.Count ? software[k] : null, null);
            }

            var b = bochs[k].Outcome;
            var s = software[k];
            if (!Same(b, s))
            {
                var step = recorded[k];
                return new Divergence(index, program, step, b, s, BochsDeviations.Explain(new DeviationCase(program, step, b, s, Software))?.Id);
            }
        }

        return null;
    }

    /// <summary>Whether two outcomes are the same as far as the runner observes them.</summary>
    public static bool Same(InstructionOutcome bochs, InstructionOutcome software)
    {
        if (bochs.Kind != software.Kind)
        {
            return false;
        }

        return bochs.Kind switch
        {
            InstructionOutcomeKind.Succeed => bochs.Value == software.Value,
            InstructionOutcomeKind.FailValid => bochs.Error == software.Error || (uint)bochs.Error == InstructionRecord.ErrorNotReadable,
            InstructionOutcomeKind.Exception => bochs.Vector == software.Vector
                && (bochs.Vector != InstructionOutcome.PF || bochs.ErrorCode == software.ErrorCode),
            InstructionOutcomeKind.VmExit => bochs.ExitReason == software.ExitReason && bochs.ExitQualification == software.ExitQualification
                && bochs.InstructionInformation == software.InstructionInformation,
            InstructionOutcomeKind.EntryFailure => bochs.ExitReason == software.ExitReason && bochs.ExitQualification == software.ExitQualification,
            _ => true,
        };
    }

    /// <summary>
    /// Removes steps while the program still diverges unexplained (one Bochs boot per round, every one-step-shorter
    /// candidate in it), then returns the smallest program and its divergence.
    /// </summary>
    public (GuestProgram Program, Divergence Divergence) Shrink(Divergence divergence, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(divergence);
        var program = divergence.Program with { Steps = divergence.Program.Steps.Take(divergence.Step + 1).ToList() };
        var current = divergence;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var candidates = Enumerable.Range(0, program.Steps.Count - 1)
                .Select(i => program with { Steps = program.Steps.Where((_, j) => j != i).ToList() })
                .ToList();
            if (candidates.Count == 0)
            {
                return (program, current);
            }

            var batch = Runner.Run(candidates, cancellationToken: cancellationToken);
            var found = false;
            for (var c = 0; c < candidates.Count; c++)
            {
                if (Compare(divergence.Index, candidates[c], batch.Programs[c]) is { Deviation: null } d)
                {
                    program = candidates[c] with { Steps = candidates[c].Steps.Take(d.Step + 1).ToList() };
                    current = d with { Program = program };
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                return (program, current);
            }
        }
    }
}
