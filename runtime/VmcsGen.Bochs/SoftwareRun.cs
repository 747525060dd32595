using System;
using System.Collections.Generic;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>
/// Runs a <see cref="GuestProgram"/> on <see cref="SoftwareVmx"/> exactly as the runner runs it on Bochs: a fresh
/// processor outside VMX operation, zeroed memory with <see cref="GuestLayout.NotPresentPage"/> not present, each
/// recorded step's outcome in order.
/// </summary>
public static class SoftwareRun
{
    public static List<InstructionOutcome> Execute(GuestProgram program, VmxProfile profile)
    {
        Processor(program, profile, out var outcomes);
        return outcomes;
    }

    /// <summary>Runs the program and returns the processor in its final state (for inspection), with the outcomes.</summary>
    public static SoftwareVmx Processor(GuestProgram program, VmxProfile profile, out List<InstructionOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(profile);
        var memory = new PhysicalMemory();
        memory.MarkNotPresent(GuestLayout.NotPresentPage);
        var cpu = new SoftwareVmx(profile, VmxOperation.Outside, memory: memory);
        outcomes = [];
        var armed = false; // after an EnterGuest, the first VM exit ends the program (as the runner's landing does)
        var mode = program.Mode == GuestMode.Long64 ? CpuMode.Long64 : CpuMode.Protected32;
        var bytes = new byte[8];
        foreach (var step in program.Steps)
        {
            if (armed && outcomes.Count > 0 && outcomes[^1].Kind is InstructionOutcomeKind.VmExit or InstructionOutcomeKind.EntryFailure)
            {
                break;
            }

            switch (step)
            {
                case MemoryWrite w:
                    BitConverter.TryWriteBytes(bytes, w.Value);
                    memory.Write(w.Address, bytes.AsSpan(0, w.Size));
                    break;
                case MemoryBytes b:
                    memory.Write(b.Address, b.Data);
                    break;
                case MemoryCopy c:
                    memory.Copy(c.From, c.To, c.Count);
                    break;
                case MsrRead m:
                    outcomes.Add(Msr(profile, m.Index));
                    break;
                case CpuidRead:
                    outcomes.Add(InstructionOutcome.Succeed());
                    break;
                case EnterGuest:
                    armed = true;
                    outcomes.Add(Enter(cpu));
                    break;
                case VmxInstruction x:
                    outcomes.Add(Execute(cpu, new VmxContext(mode, x.Cpl), x));
                    break;
                default:
                    throw new ArgumentException($"Unknown step {step}.", nameof(program));
            }
        }

        return cpu;
    }

    private static InstructionOutcome Msr(VmxProfile profile, uint index)
    {
        try
        {
            return InstructionOutcome.Succeed(profile.ReadMsr(index));
        }
        catch (ArgumentOutOfRangeException)
        {
            return InstructionOutcome.GeneralProtection;
        }
    }

    /// <summary>The runner's <see cref="EnterGuest"/>: VMWRITE GUEST_RIP and GUEST_RSP (the first fault is the outcome), then VMLAUNCH.</summary>
    private static InstructionOutcome Enter(SoftwareVmx cpu)
    {
        foreach (var (encoding, value) in new[] { (0x681Eul, (ulong)GuestLayout.ProgramsStart), (0x681Cul, GuestLayout.StackTop - 8ul) })
        {
            var write = cpu.ExecuteVmwrite(VmxContext.Long64, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax, value));
            if (write.Kind is InstructionOutcomeKind.Exception or InstructionOutcomeKind.VmExit)
            {
                return write with { Rule = null };
            }
        }

        return cpu.ExecuteVmlaunch(VmxContext.Long64) with { Rule = null };
    }

    /// <summary>One VMX instruction on SoftwareVmx's instruction layer.</summary>
    public static InstructionOutcome Execute(SoftwareVmx cpu, VmxContext context, VmxInstruction x)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(x);
        var outcome = x.Opcode switch
        {
            VmxOpcode.Vmxon => cpu.ExecuteVmxon(context, x.Operand),
            VmxOpcode.Vmxoff => cpu.ExecuteVmxoff(context),
            VmxOpcode.Vmclear => cpu.ExecuteVmclear(context, x.Operand),
            VmxOpcode.Vmptrld => cpu.ExecuteVmptrld(context, x.Operand),
            VmxOpcode.Vmptrst => cpu.ExecuteVmptrst(context, x.Operand),
            VmxOpcode.Vmread => cpu.ExecuteVmread(context, x.EncodingRegister, x.Operand),
            VmxOpcode.Vmwrite => cpu.ExecuteVmwrite(context, x.EncodingRegister, x.Operand),
            VmxOpcode.Vmlaunch => cpu.ExecuteVmlaunch(context),
            _ => cpu.ExecuteVmresume(context),
        };

        // The runner reports a value only for VMREAD and VMPTRST, and no rule text.
        return outcome with
        {
            Value = outcome.Kind == InstructionOutcomeKind.Succeed && x.Opcode is VmxOpcode.Vmread or VmxOpcode.Vmptrst ? outcome.Value : 0,
            Rule = null,
        };
    }
}
