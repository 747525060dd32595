using System;
using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>SoftwareVmx gives the SDM's outcome for every case class: widths, _HIGH, read-only, unsupported, lifecycle.</summary>
public sealed class SoftwareVmxTests
{
    private const ulong Vmcs = 0x2000;
    private const ulong Other = 0x4000;
    private static readonly VmxResult Unsupported = VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
    private static readonly VmxResult ReadOnly = VmxResult.FailValid(VmxInstructionError.VmwriteReadOnlyVmcsComponent);

    private static SoftwareVmx Loaded(bool vmwriteAny = true, VmcsFieldCatalog? catalog = null)
    {
        var cpu = new SoftwareVmx(catalog, vmwriteAny: vmwriteAny);
        cpu.CreateRegion(Vmcs);
        Assert.That(cpu.VmPtrLd(Vmcs), Is.EqualTo(VmxResult.Succeed));
        return cpu;
    }

    [TestCase(0x0800u, 0xAAAA_BBBB_CCCC_1234ul, 0x1234ul, TestName = "16-bit: VMWRITE truncates, VMREAD zero-extends")]
    [TestCase(0x4802u, 0xAAAA_BBBB_CCCC_1234ul, 0xCCCC_1234ul, TestName = "32-bit: VMWRITE truncates, VMREAD zero-extends")]
    [TestCase(0x2000u, 0xAAAA_BBBB_CCCC_1234ul, 0xAAAA_BBBB_CCCC_1234ul, TestName = "64-bit: all 64 bits")]
    [TestCase(0x681Eu, 0xAAAA_BBBB_CCCC_1234ul, 0xAAAA_BBBB_CCCC_1234ul, TestName = "natural width: 64 bits on a 64-bit processor")]
    [TestCase(0x2001u, 0xAAAA_BBBB_CCCC_1234ul, 0xCCCC_1234ul, TestName = "_HIGH: 32 bits")]
    public void WidthRules(uint encoding, ulong written, ulong read)
    {
        var cpu = Loaded();
        Assert.That(cpu.VmWrite(encoding, written), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.VmRead(encoding, out var value), Is.EqualTo(VmxResult.Succeed));
        Assert.That(value, Is.EqualTo(read));
    }

    [Test]
    public void HighAccessIsBits63To32OfTheFullField()
    {
        var cpu = Loaded();
        cpu.VmWrite(0x2000, 0x1111_2222_3333_4444);
        Assert.That(cpu.VmWrite(0x2001, 0xFFFF_FFFF_9999_8888), Is.EqualTo(VmxResult.Succeed));

        cpu.VmRead(0x2000, out var full);
        Assert.That(full, Is.EqualTo(0x9999_8888_3333_4444ul));
        cpu.VmRead(0x2001, out var high);
        Assert.That(high, Is.EqualTo(0x9999_8888ul));
    }

    [TestCase(0x0801u, TestName = "bit 0 on a 16-bit field")]
    [TestCase(0x4403u, TestName = "bit 0 on a 32-bit field")]
    [TestCase(0x681Fu, TestName = "bit 0 on a natural-width field")]
    [TestCase(0x1000u, TestName = "reserved bit 12")]
    [TestCase(0x8000u, TestName = "bit 15")]
    [TestCase(0x1_681Eu, TestName = "bit 16")]
    [TestCase(0x0030u, TestName = "unknown index")]
    public void UnsupportedEncodingsFailValid12(uint encoding)
    {
        var cpu = Loaded();
        Assert.That(cpu.VmRead(encoding, out var value), Is.EqualTo(Unsupported));
        Assert.That(value, Is.Zero);
        Assert.That(cpu.VmWrite(encoding, 1), Is.EqualTo(Unsupported));
        cpu.VmRead(0x4400, out var error);
        Assert.That(error, Is.EqualTo(12ul), "VMfailValid stores the number in VM_INSTRUCTION_ERROR");
    }

    [Test]
    public void AFieldTheCatalogLacksIsUnsupported()
    {
        var cpu = Loaded(catalog: VmcsFieldCatalog.AllKnown.Without(0x0812, 0x200E));
        Assert.That(cpu.VmRead(0x0812, out _), Is.EqualTo(Unsupported));
        Assert.That(cpu.VmWrite(0x200F, 0), Is.EqualTo(Unsupported), "the _HIGH form goes with its field");
        Assert.That(cpu.VmRead(0x0810, out _), Is.EqualTo(VmxResult.Succeed));
    }

    [TestCase(false, ExpectedResult = "VMfailValid(13: VmwriteReadOnlyVmcsComponent)")]
    [TestCase(true, ExpectedResult = "VMsucceed")]
    public string ExitInformationFieldsAreReadOnlyUnlessVmwriteAny(bool vmwriteAny)
    {
        var cpu = Loaded(vmwriteAny);
        Assert.That(cpu.VmRead(0x4402, out _), Is.EqualTo(VmxResult.Succeed), "reads always work");
        return cpu.VmWrite(0x4402, 0x30).ToString();
    }

    [Test]
    public void UnsupportedIsCheckedBeforeReadOnly()
    {
        var cpu = Loaded(vmwriteAny: false, catalog: VmcsFieldCatalog.AllKnown.Without(0x440E));
        Assert.That(cpu.VmWrite(0x440E, 1), Is.EqualTo(Unsupported));
        Assert.That(cpu.VmWrite(0x440C, 1), Is.EqualTo(ReadOnly));
        Assert.That(cpu.VmWrite(0x2401, 1), Is.EqualTo(ReadOnly), "_HIGH of an exit-information field is read-only too");
    }

    [Test]
    public void WithoutACurrentVmcsEverythingFailsInvalid()
    {
        var cpu = new SoftwareVmx();
        Assert.That(cpu.VmRead(0x681E, out _), Is.EqualTo(VmxResult.FailInvalid));
        Assert.That(cpu.VmWrite(0x681E, 1), Is.EqualTo(VmxResult.FailInvalid));
        Assert.That(cpu.VmRead(0x8000, out _), Is.EqualTo(VmxResult.FailInvalid), "no VMCS to store an error number in");
        Assert.That(cpu.VmLaunch(), Is.EqualTo(VmxResult.FailInvalid));
        Assert.That(cpu.VmPtrLd(0x123), Is.EqualTo(VmxResult.FailInvalid), "VMfail without a current VMCS is VMfailInvalid");
    }

    [TestCase(0x2008ul, VmxInstructionError.VmptrldInvalidAddress, TestName = "VMPTRLD: not 4 KiB aligned")]
    [TestCase(0x4000_0000_0000ul, VmxInstructionError.VmptrldInvalidAddress, TestName = "VMPTRLD: beyond MAXPHYADDR")]
    [TestCase(0x1000ul, VmxInstructionError.VmptrldVmxonPointer, TestName = "VMPTRLD: the VMXON pointer")]
    [TestCase(0x5000ul, VmxInstructionError.VmptrldIncorrectVmcsRevisionId, TestName = "VMPTRLD: wrong revision")]
    [TestCase(0x6000ul, VmxInstructionError.VmptrldIncorrectVmcsRevisionId, TestName = "VMPTRLD: shadow VMCS without VMCS shadowing")]
    public void VmptrldFailures(ulong address, VmxInstructionError error)
    {
        var cpu = new SoftwareVmx(vmcsShadowing: false);
        cpu.CreateRegion(Vmcs);
        cpu.CreateRegion(0x5000, revision: 0x1234);
        cpu.CreateRegion(0x6000, shadow: true);
        cpu.VmPtrLd(Vmcs);

        Assert.That(cpu.VmPtrLd(address), Is.EqualTo(VmxResult.FailValid(error)));
        Assert.That(cpu.CurrentPointer, Is.EqualTo(Vmcs), "a failed VMPTRLD keeps the current VMCS");
        cpu.VmRead(0x4400, out var stored);
        Assert.That(stored, Is.EqualTo((ulong)error));
    }

    [TestCase(0x2010ul, VmxInstructionError.VmclearInvalidAddress)]
    [TestCase(0x1000ul, VmxInstructionError.VmclearVmxonPointer)]
    public void VmclearFailures(ulong address, VmxInstructionError error) =>
        Assert.That(Loaded().VmClear(address), Is.EqualTo(VmxResult.FailValid(error)));

    [Test]
    public void LaunchStateFollowsVmlaunchVmresumeAndVmclear()
    {
        var cpu = Loaded();
        Assert.That(cpu.VmResume(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmresumeNonLaunchedVmcs)));
        Assert.That(cpu.VmLaunch(), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.IsLaunched(Vmcs), Is.True);
        Assert.That(cpu.VmLaunch(), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.VmlaunchNonClearVmcs)));
        Assert.That(cpu.VmResume(), Is.EqualTo(VmxResult.Succeed));

        Assert.That(cpu.VmClear(Vmcs), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.IsLaunched(Vmcs), Is.False);
        Assert.That(cpu.CurrentPointer, Is.EqualTo(SoftwareVmx.InvalidPointer), "VMCLEAR of the current VMCS leaves none current");
        Assert.That(cpu.VmPtrLd(Vmcs), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.VmLaunch(), Is.EqualTo(VmxResult.Succeed), "clear again after VMCLEAR");
    }

    [Test]
    public void VmclearOfAnotherVmcsKeepsTheCurrentOne()
    {
        var cpu = Loaded();
        cpu.CreateRegion(Other);
        Assert.That(cpu.VmClear(Other), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.CurrentPointer, Is.EqualTo(Vmcs));
    }

    [Test]
    public void AShadowVmcsCanBeReadAndWrittenButNotLaunched()
    {
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(Other, shadow: true);
        Assert.That(cpu.VmPtrLd(Other), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.VmWrite(0x681E, 5), Is.EqualTo(VmxResult.Succeed));
        Assert.That(cpu.VmLaunch(), Is.EqualTo(VmxResult.FailInvalid));
    }

    [Test]
    public void RegionsKeepTheirOwnValues()
    {
        var cpu = Loaded();
        cpu.CreateRegion(Other);
        cpu.VmWrite(0x681E, 1);
        cpu.VmPtrLd(Other);
        cpu.VmWrite(0x681E, 2);

        Assert.That((cpu.Peek(Vmcs, 0x681E), cpu.Peek(Other, 0x681E)), Is.EqualTo((1ul, 2ul)));
    }

    [Test]
    public void EveryInstructionIsCountedInTotalAndPerField()
    {
        var cpu = Loaded();
        cpu.ResetCounters();
        cpu.VmRead(0x681E, out _);
        cpu.VmRead(0x681E, out _);
        cpu.VmWrite(0x2001, 1);
        cpu.VmWrite(0x8000, 1);
        cpu.VmPtrLd(Vmcs);
        cpu.VmClear(Other);
        cpu.VmLaunch();

        Assert.That(cpu.Counters, Is.EqualTo(new VmcsCounters(2, 2, 1, 1, 1)));
        Assert.That((cpu.ReadsOf(0x681E), cpu.WritesOf(0x2001), cpu.WritesOf(0x2000)), Is.EqualTo((2L, 1L, 0L)));
    }

    [Test]
    public void ConstructorRejectsImpossibleProcessors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SoftwareVmx(physicalAddressWidth: 60));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SoftwareVmx(revision: 0x8000_0000));
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(Vmcs);
        Assert.Throws<InvalidOperationException>(() => cpu.CreateRegion(Vmcs));
        Assert.Throws<ArgumentException>(() => cpu.Peek(0x9000, 0x681E));
    }
}
