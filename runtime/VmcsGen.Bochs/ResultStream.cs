using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>Parses the guest's port-0xE9 stream (docs/BOCHS-RUNNER.md) into records.</summary>
internal static class ResultStream
{
    public static List<IReadOnlyList<InstructionRecord>> Parse(string output, IReadOnlyList<GuestProgram> programs, int first, int count,
        List<ImageBuilder.StepRef> steps)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var start = lines.FindIndex(l => l.EndsWith(ImageBuilder.Header, StringComparison.Ordinal));
        if (start < 0)
        {
            var loadFailed = lines.Any(l => l.EndsWith('L') && l.Trim() == "L");
            throw new BochsException(loadFailed
                ? "The guest could not read its floppy image (BIOS int 13h failed)."
                : $"The guest never started: no '{ImageBuilder.Header}' line on port 0xE9 (a malformed image?).");
        }

        var records = new InstructionRecord?[steps.Count];
        var done = false;
        for (var i = start + 1; i < lines.Count && !done; i++)
        {
            var line = lines[i];
            var at = line.IndexOfAny(['P', 'R', 'X', 'E', 'F', 'D']);
            if (at < 0)
            {
                continue;
            }

            var fields = line[at..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (fields[0])
            {
                case "D":
                    done = true;
                    break;
                case "P":
                    break;
                case "F":
                    throw new BochsException($"The guest faulted outside a program: vector {Hex(fields, 1)}, error 0x{Hex(fields, 2):X}, " +
                        $"at 0x{Hex(fields, 3):X}.");
                case "R" when fields.Length == 5:
                case "X" when fields.Length == 4:
                case "E" when fields.Length == 7:
                    var id = (int)Hex(fields, 1);
                    if (id < 0 || id >= steps.Count || records[id] is not null)
                    {
                        throw new BochsException($"Result stream: unexpected record '{line[at..]}'.");
                    }

                    var step = programs[steps[id].Program].Steps[steps[id].Step];
                    records[id] = fields[0] switch
                    {
                        "R" => Completed(steps[id], step, Hex(fields, 2), Hex(fields, 3), Hex(fields, 4)),
                        "X" => new InstructionRecord(steps[id].Program, steps[id].Step, Fault((byte)Hex(fields, 2), (uint)Hex(fields, 3)), 0, 0, 0),
                        _ => Exit(steps[id], (uint)Hex(fields, 2), Hex(fields, 3), (uint)Hex(fields, 4), Hex(fields, 5), Hex(fields, 6)),
                    };
                    break;
                default:
                    break; // not ours (the term display's output)
            }
        }

        if (!done)
        {
            throw new BochsException("Result stream: the guest stopped before its last program (no 'D' record).");
        }

        // A program with a guest ends at its first VM exit: its later steps have no record.
        var ended = new HashSet<int>();
        for (var id = 0; id < records.Length; id++)
        {
            var program = steps[id].Program;
            if (records[id] is { } r)
            {
                if (ended.Contains(program))
                {
                    throw new BochsException($"Result stream: program {program} has a record after the VM exit that ended it.");
                }

                if (programs[program].HasGuest && r.Outcome.Kind is InstructionOutcomeKind.VmExit or InstructionOutcomeKind.EntryFailure)
                {
                    ended.Add(program);
                }
            }
            else if (!ended.Contains(program))
            {
                throw new BochsException($"Result stream: no record for program {program}, step {steps[id].Step}.");
            }
        }

        var result = new List<IReadOnlyList<InstructionRecord>>(count);
        for (var p = 0; p < count; p++)
        {
            result.Add(new List<InstructionRecord>());
        }

        foreach (var record in records)
        {
            if (record is not null)
            {
                ((List<InstructionRecord>)result[record.Program - first]).Add(record);
            }
        }

        return result;
    }

    private static ulong Hex(string[] fields, int index) =>
        index < fields.Length && ulong.TryParse(fields[index], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new BochsException($"Result stream: '{string.Join(' ', fields)}' is not a record.");

    /// <summary>A VM exit to the runner's landing: reason bit 31 set is a VM-entry failure. Value = guest RIP, Auxiliary = instruction length.</summary>
    private static InstructionRecord Exit(ImageBuilder.StepRef at, uint reason, ulong qualification, uint information, ulong guestRip, ulong length) =>
        new(at.Program, at.Step,
            new InstructionOutcome((reason & VmxExitReason.EntryFailureBit) != 0 ? InstructionOutcomeKind.EntryFailure : InstructionOutcomeKind.VmExit,
                ExitReason: reason, ExitQualification: qualification, InstructionInformation: information),
            0, guestRip, length);

    private static InstructionOutcome Fault(byte vector, uint error) =>
        new(InstructionOutcomeKind.Exception, Vector: vector, ErrorCode: error);

    private static InstructionRecord Completed(ImageBuilder.StepRef at, GuestStep step, ulong rflags, ulong value, ulong auxiliary)
    {
        InstructionOutcome outcome;
        if (step is VmxInstruction or EnterGuest)
        {
            // Only VMREAD and VMPTRST produce a value; VMfailValid's number is the VM-instruction error field read back.
            const ulong cf = 1, zf = 0x40;
            outcome = (rflags & cf) != 0 ? InstructionOutcome.FailInvalid
                : (rflags & zf) != 0 ? InstructionOutcome.FailValid((VmxInstructionError)auxiliary)
                : InstructionOutcome.Succeed(step is VmxInstruction { Opcode: VmxOpcode.Vmread or VmxOpcode.Vmptrst } ? value : 0);
        }
        else
        {
            outcome = InstructionOutcome.Succeed(value);
        }

        return new InstructionRecord(at.Program, at.Step, outcome, rflags, value, auxiliary);
    }
}
