using System;
using System.IO;
using System.Linq;
using Iced.Intel;
using NUnit.Framework;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;

namespace VmcsGen.Bochs.Tests;

/// <summary>The runner itself: its errors, the records it returns, and what it reads from Bochs.</summary>
public sealed class RunnerTests
{
    private const ulong Vmxon = 0x200000, Vmcs = 0x201000, Slot = 0x20A000, Scratch = 0x20B000;

    [Test]
    public void AMissingBinaryIsOneClearErrorNamingThePackages()
    {
        var runner = new BochsRunner(new BochsOptions { Bochs = "/nonexistent/bochs" });
        var e = Assert.Throws<BochsException>(() => runner.Run([new GuestProgram(GuestMode.Long64, [new MsrRead(0x480)])]));
        Assert.That(e!.Message, Does.Contain("'/nonexistent/bochs' executable").And.Contain("apt-get install -y bochs bochs-term bochsbios vgabios"));
        Assert.That(e.Message, Does.Not.Contain('\n'), "one line");
    }

    [Test]
    public void AMissingBiosIsNamed()
    {
        var runner = new BochsRunner(new BochsOptions { Bios = "/nonexistent/BIOS-bochs-latest", VgaBios = "/nonexistent/vgabios.bin" });
        Assert.That(runner.Missing(), Does.Contain("BIOS image /nonexistent/BIOS-bochs-latest").And.Contain("VGA BIOS image /nonexistent/vgabios.bin"));
    }

    [Test]
    public void AMalformedImageIsRefusedWithTheReason()
    {
        var runner = BochsFixture.Runner;
        Assert.That(Assert.Throws<BochsException>(() => runner.Boot(new byte[1000]))!.Message, Does.Contain("1000 bytes"));
        Assert.That(Assert.Throws<BochsException>(() => runner.Boot(new byte[1_474_560]))!.Message, Does.Contain("boot signature"));
    }

    [Test]
    public void AGuestThatTripleFaultsStopsBochsWithItsReason()
    {
        // An IDT of limit 0 (zero bytes at 0x7DF0) and ud2: #UD cannot be delivered, nor the #GP and #DF that follow, so the
        // CPU shuts down; the runner's bochsrc has reset_on_triple_fault=0, so Bochs stops and the runner says why.
        var a = new Assembler(16);
        a.cli();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.lidt(__[0x7DF0]);
        a.ud2();
        var e = Assert.Throws<BochsException>(() => BochsFixture.Runner.Boot(Image(a)));
        Assert.That(e!.Message, Does.StartWith("Bochs stopped before the guest shut down").And.Contain("triple fault"));
    }

    [Test]
    public void AHungGuestHitsTheTimeout()
    {
        var runner = new BochsRunner(BochsFixture.Runner.Options with { Timeout = TimeSpan.FromSeconds(3) });
        var a = new Assembler(16);
        var here = a.CreateLabel();
        a.cli();
        a.Label(ref here);
        a.jmp(here);
        var e = Assert.Throws<BochsException>(() => runner.Boot(Image(a)));
        Assert.That(e!.Message, Does.StartWith("Bochs timed out after 3 s"));
    }

    [Test]
    public void TheCapabilityMsrsAreThoseTheIssueRecordedForSkylakeX()
    {
        // Issue 21: cpu model=corei7_skylake_x has revision 0x2B, region size 0x1000, VMWRITE-any and VMCS shadowing.
        var profile = BochsFixture.Profile;
        var basic = profile.Msrs[VmxMsr.Basic];
        Assert.That((basic & 0x7FFF_FFFF, (basic >> 32) & 0x1FFF), Is.EqualTo((0x2Bul, 0x1000ul)));
        Assert.That((profile.VmwriteAny, profile.VmcsShadowing), Is.EqualTo((true, true)));
        Assert.That(profile.Msrs.Keys, Is.EquivalentTo(Enumerable.Range(0x480, 0x12).Select(i => (uint)i)), "0x480-0x491; no tertiary controls, so no 0x492");
        Assert.That(profile.PhysicalAddressWidth, Is.InRange(36, 52));
    }

    [Test]
    public void EachOutcomeKindIsRecordedAsSoftwareVmxReportsIt()
    {
        var revision = BochsFixture.Profile.Revision;
        VmxInstruction Read(ulong encoding, VmxOperand destination, int cpl = 0) => new(VmxOpcode.Vmread, destination, VmxOperand.Reg(Gpr.Rcx, encoding), cpl);
        var program = new GuestProgram(GuestMode.Long64,
        [
            Read(0x0804, VmxOperand.Reg(Gpr.Rax)), // #UD outside VMX operation
            new MemoryWrite(Vmxon, revision, 4),
            new MemoryWrite(Vmcs, revision, 4),
            new MemoryWrite(Slot, Vmxon),
            new MemoryWrite(Slot + 8, Vmcs),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(Slot)),
            Read(0x0804, VmxOperand.Reg(Gpr.Rax)), // VMfailInvalid: no current VMCS
            new VmxInstruction(VmxOpcode.Vmptrld, VmxOperand.Mem(Slot + 8), MemoryBase: Gpr.Rbx),
            new VmxInstruction(VmxOpcode.Vmwrite, VmxOperand.Reg(Gpr.R9, 0x1234), VmxOperand.Reg(Gpr.R10, 0x0804)),
            Read(0x0804, VmxOperand.Reg(Gpr.R11)), // the value
            Read(0x0804, VmxOperand.Mem(Scratch)), // the value, through memory
            Read(0x0804, VmxOperand.Mem(GuestLayout.NotPresentPage)), // #PF, write, not present
            Read(0x0804, VmxOperand.Reg(Gpr.Rax), cpl: 3), // #GP(0)
            Read(0x7FFF, VmxOperand.Reg(Gpr.Rax)), // VMfailValid(12)
            new VmxInstruction(VmxOpcode.Vmptrst, VmxOperand.Mem(Scratch + 8)),
            new VmxInstruction(VmxOpcode.Vmlaunch), // VMfailValid(7): all controls 0
        ]);
        var records = BochsFixture.Runner.Run([program]).Programs[0];
        Assert.That(records.Select(r => r.Outcome.ToString()), Is.EqualTo(new[]
        {
            "#UD", "VMsucceed", "VMfailInvalid", "VMsucceed", "VMsucceed", "VMsucceed", "VMsucceed", "#PF(0x2)", "#GP(0)", "VMfailValid(12)", "VMsucceed",
                "VMfailValid(7)",
        }));
        Assert.That((records[5].Outcome.Value, records[6].Outcome.Value, records[10].Outcome.Value), Is.EqualTo((0x1234ul, 0x1234ul, Vmcs)));
        Assert.That(records.Select(r => r.Step), Is.EqualTo(new[] { 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }));
    }

    [Test]
    public void AVmEntryFailureReturnsToTheRunnerWithItsExitReason()
    {
        // Valid controls (their allowed 0-settings, host address-space size in 64-bit mode) and the runner's host state; a
        // zero guest state fails the guest checks: SDM 26.8, exit reason 33 with bit 31, host state loaded.
        var profile = BochsFixture.Profile;
        var steps = new System.Collections.Generic.List<GuestStep>
        {
            new MemoryWrite(Vmxon, profile.Revision, 4), new MemoryWrite(Vmcs, profile.Revision, 4),
            new MemoryWrite(Slot, Vmxon), new MemoryWrite(Slot + 8, Vmcs),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(Slot)),
            new VmxInstruction(VmxOpcode.Vmptrld, VmxOperand.Mem(Slot + 8)),
        };
        void Write(uint encoding, ulong value) =>
            steps.Add(new VmxInstruction(VmxOpcode.Vmwrite, VmxOperand.Reg(Gpr.Rax, value), VmxOperand.Reg(Gpr.Rcx, encoding)));
        Write(0x4000, (uint)profile.Msrs[VmxMsr.TruePinBasedCtls]);
        Write(0x4002, (uint)profile.Msrs[VmxMsr.TrueProcBasedCtls]);
        Write(0x400C, (uint)profile.Msrs[VmxMsr.TrueExitCtls] | 0x200);
        Write(0x4012, (uint)profile.Msrs[VmxMsr.TrueEntryCtls]);
        Write(0x2800, ulong.MaxValue);
        foreach (var (encoding, value) in GuestLayout.HostState(GuestMode.Long64))
        {
            Write(encoding, value);
        }

        steps.Add(new VmxInstruction(VmxOpcode.Vmlaunch));
        steps.Add(new VmxInstruction(VmxOpcode.Vmread, VmxOperand.Reg(Gpr.Rax), VmxOperand.Reg(Gpr.Rcx, VmcsEncoding.ExitReason)));
        var records = BochsFixture.Runner.Run([new GuestProgram(GuestMode.Long64, steps)]).Programs[0];
        var launch = records[^2].Outcome;
        Assert.That((launch.Kind, launch.ExitReason), Is.EqualTo((InstructionOutcomeKind.EntryFailure, 0x8000_0021u)));
        Assert.That(records[^1].Outcome.Value, Is.EqualTo(0x8000_0021ul), "the program goes on after the exit, in VMX root operation");
    }

    [Test]
    public void ProgramsIn32BitModeAndAfterAModeSwitchRecordLikeThoseIn64BitMode()
    {
        var revision = BochsFixture.Profile.Revision;
        GuestProgram Program(GuestMode mode) => new(mode,
        [
            new MemoryWrite(Vmxon, revision, 4),
            new MemoryWrite(Slot, Vmxon),
            new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(Slot)),
            new VmxInstruction(VmxOpcode.Vmptrst, VmxOperand.Mem(Scratch)),
            new VmxInstruction(VmxOpcode.Vmread, VmxOperand.Reg(Gpr.Rax), VmxOperand.Reg(Gpr.Rcx, 0x0804), Cpl: 3),
            new VmxInstruction(VmxOpcode.Vmxoff),
        ]);
        var modes = new[] { GuestMode.Long64, GuestMode.Protected32, GuestMode.Protected32, GuestMode.Long64, GuestMode.Protected32 };
        var batch = BochsFixture.Runner.Run(modes.Select(Program).ToList());
        Assert.That(batch.Boots, Is.EqualTo(1));
        foreach (var records in batch.Programs)
        {
            Assert.That(records.Select(r => r.Outcome.ToString()), Is.EqualTo(new[] { "VMsucceed", "VMsucceed", "#GP(0)", "VMsucceed" }));
            Assert.That(records[1].Outcome.Value, Is.EqualTo(SoftwareVmx.InvalidPointer), "VMPTRST without a current VMCS stores -1 (all 64 bits, " +
                "also in 32-bit mode)");
        }
    }

    private static byte[] Image(Assembler boot)
    {
        using var stream = new MemoryStream();
        boot.Assemble(new StreamCodeWriter(stream), 0x7C00);
        var image = new byte[1_474_560];
        stream.ToArray().CopyTo(image, 0);
        image[510] = 0x55;
        image[511] = 0xAA;
        return image;
    }
}
