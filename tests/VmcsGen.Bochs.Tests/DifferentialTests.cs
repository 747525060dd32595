using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Bochs.Tests;

/// <summary>SoftwareVmx (the Hardware profile of Bochs' own MSRs) against Bochs on generated programs.</summary>
public sealed class DifferentialTests
{
    /// <summary>The fixed seed of the slice; docs/RUNTIME.md ("Bochs") says how to run other seeds and more programs.</summary>
    private const int Seed = 20261203;

    [Test]
    public void AFixedSeedSliceOf2000ProgramsHasNoUnexplainedDivergence()
    {
        var run = new DifferentialRun(BochsFixture.Runner, BochsFixture.Profile, new ProgramGenerator(BochsFixture.Profile));
        var report = run.Run(Seed, 2000, shrink: true);
        Assert.That(report.Instructions, Is.GreaterThan(20_000), "thousands of VMX instructions, a few boots");
        Assert.That(report.Divergences, Is.Empty, () =>
            $"first, shrunk: {report.FirstMinimalDivergence}\n  {string.Join("\n  ", report.FirstMinimalProgram!.Steps)}");
        Assert.That(report.Deviations.Keys, Is.SubsetOf(BochsDeviations.All.Select(d => d.Id)));
    }

    [Test]
    public void TheKvmProfileDivergesAndShrinksToAFewSteps()
    {
        // KVM's vmcs12 revision (0x11e57ed0) is not Bochs' 0x2B: SoftwareVmx refuses the VMXON region Bochs accepts.
        var run = new DifferentialRun(BochsFixture.Runner, VmxProfile.Kvm, new ProgramGenerator(BochsFixture.Profile));
        var report = run.Run(Seed, 40, shrink: true);
        Assert.That(report.Divergences, Is.Not.Empty);
        Assert.That(report.FirstMinimalProgram!.Steps.Count, Is.LessThanOrEqualTo(3), () => string.Join("\n", report.FirstMinimalProgram.Steps));
        Assert.That(report.FirstMinimalDivergence!.Instruction, Is.InstanceOf<VmxInstruction>().With.Property("Opcode").EqualTo(VmxOpcode.Vmxon));
    }

    [Test]
    public void ProgramsAreReproducibleFromSeedAndIndex()
    {
        var a = new ProgramGenerator(BochsFixture.Profile);
        var b = new ProgramGenerator(BochsFixture.Profile);
        Assert.That(Enumerable.Range(0, 50).Select(i => a.Generate(7, i).ToString()),
            Is.EqualTo(Enumerable.Range(0, 50).Select(i => b.Generate(7, i).ToString())));
        Assert.That(a.Generate(7, 0).ToString(), Is.Not.EqualTo(a.Generate(8, 0).ToString()));
    }

    [Test]
    public void EveryKnownFieldExistsOnBochsExactlyWhenTheHardwareProfileOfItsMsrsHasIt()
    {
        // One VMREAD per known encoding (full and _HIGH) on a current VMCS: VMfailValid(12) where Bochs lacks the field
        // (cpu/vmcs.cc vmcs_field_supported), VMsucceed where it has it; VmxProfile.Hardware must agree on every one.
        var profile = BochsFixture.Profile;
        var io = new uint[] { 0x6402, 0x6404, 0x6406, 0x6408 }; // I/O RCX/RSI/RDI/RIP: SDM fields KVM does not name
        var encodings = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => VmcsFieldCatalog.AllKnown.Supports(e) || io.Contains(e)).ToList();
        var steps = new System.Collections.Generic.List<GuestStep>
        {
            new MemoryWrite(0x200000, profile.Revision, 4), new MemoryWrite(0x201000, profile.Revision, 4),
            new MemoryWrite(0x20A000, 0x200000), new MemoryWrite(0x20A008, 0x201000),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(0x20A000)),
            new VmxInstruction(VmxOpcode.Vmptrld, VmxOperand.Mem(0x20A008)),
        };
        steps.AddRange(encodings.Select(e => new VmxInstruction(VmxOpcode.Vmread, VmxOperand.Reg(Gpr.Rax), VmxOperand.Reg(Gpr.Rcx, e))));
        var records = BochsFixture.Runner.Run([new GuestProgram(GuestMode.Long64, steps)]).Programs[0].Skip(2).ToList();
        var onBochs = encodings.Where((e, i) => records[i].Outcome.IsSuccess).ToList();
        Assert.That(encodings.Where(profile.Catalog.Supports), Is.EqualTo(onBochs));
        Assert.That(onBochs, Has.Count.LessThan(encodings.Count), "Bochs lacks some fields of features it does not offer");
    }

    [Test]
    public void BochsDeviation2AnMsrCountOf2To28WrapsTheLastByte()
    {
        // Pins BOCHS-2 (seed 1, program 7004 of the 20,000-program run, shrunk): valid controls, VM-exit MSR-load count
        // 0x20000000 at address 0: the area ends at 0x1_FFFF_FFFF, within MAXPHYADDR 40, so the controls pass (SDM 26.2.1.2)
        // and the missing host state fails (8); Bochs' 32-bit count * 16 wraps to 0, the last byte to -1: VMfailValid(7).
        var profile = BochsFixture.Profile;
        GuestStep Write(uint e, ulong v) => new VmxInstruction(VmxOpcode.Vmwrite, VmxOperand.Reg(Gpr.Rax, v), VmxOperand.Reg(Gpr.Rcx, e));
        var program = new GuestProgram(GuestMode.Long64,
        [
            new MemoryWrite(0x200000, profile.Revision, 4), new MemoryWrite(0x201000, profile.Revision, 4),
            new MemoryWrite(0x20A000, 0x200000), new MemoryWrite(0x20A008, 0x201000),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(0x20A000)),
            new VmxInstruction(VmxOpcode.Vmptrld, VmxOperand.Mem(0x20A008)),
            Write(0x4000, (uint)profile.Msrs[VmxMsr.TruePinBasedCtls]),
            Write(0x4002, (uint)profile.Msrs[VmxMsr.TrueProcBasedCtls]),
            Write(0x400C, (uint)profile.Msrs[VmxMsr.TrueExitCtls] | 0x200),
            Write(0x4012, (uint)profile.Msrs[VmxMsr.TrueEntryCtls]),
            Write(0x4010, 0x2000_0000),
            new VmxInstruction(VmxOpcode.Vmlaunch),
        ]);
        var bochs = BochsFixture.Runner.Run([program]).Programs[0];
        Assert.That(bochs[^1].Outcome.ToString(), Is.EqualTo("VMfailValid(7)"));
        Assert.That(SoftwareRun.Execute(program, profile)[^1].ToString(), Is.EqualTo("VMfailValid(8)"));
        var divergence = new DifferentialRun(BochsFixture.Runner, profile, new ProgramGenerator(profile)).Compare(0, program, bochs);
        Assert.That(divergence!.Deviation, Is.EqualTo(BochsDeviations.MsrAreaOverflow));
    }

    [Test]
    public void BochsDeviation1VmlaunchOfAShadowVmcsIsNotVmfailInvalid()
    {
        // Pins BOCHS-1: SDM 26.1 item 4 says VMfailInvalid when the current VMCS is a shadow VMCS; Bochs 2.7 goes on to the
        // control checks (VMfailValid(7) here). SoftwareVmx follows the SDM, and the deviation explains the difference.
        var profile = BochsFixture.Profile;
        var program = new GuestProgram(GuestMode.Long64,
        [
            new MemoryWrite(0x200000, profile.Revision, 4),
            new MemoryWrite(0x201000, profile.Revision | 0x8000_0000u, 4),
            new MemoryWrite(0x20A000, 0x200000), new MemoryWrite(0x20A008, 0x201000),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(0x20A000)),
            new VmxInstruction(VmxOpcode.Vmptrld, VmxOperand.Mem(0x20A008)),
            new VmxInstruction(VmxOpcode.Vmlaunch),
        ]);
        var bochs = BochsFixture.Runner.Run([program]).Programs[0];
        var software = SoftwareRun.Execute(program, profile);
        Assert.That(bochs[1].Outcome.IsSuccess && software[1].IsSuccess, "a shadow VMCS can be made current (shadowing allowed)");
        Assert.That(bochs[2].Outcome.ToString(), Is.EqualTo("VMfailValid(7)"));
        Assert.That(software[2].Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        var divergence = new DifferentialRun(BochsFixture.Runner, profile, new ProgramGenerator(profile)).Compare(0, program, bochs);
        Assert.That(divergence!.Deviation, Is.EqualTo(BochsDeviations.ShadowVmcsEntry));
    }
}
