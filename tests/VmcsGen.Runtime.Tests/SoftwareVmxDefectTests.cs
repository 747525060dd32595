using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The SoftwareVmx defects the differential run against Bochs (tests/VmcsGen.Bochs.Tests, docs/RUNTIME.md "Bochs") found,
/// pinned offline: a VMCS region must hold every field within the size IA32_VMX_BASIC reports (SDM Vol. 3D A.1: bits
/// 44:32 are the bytes software allocates for a VMXON or VMCS region), and a field exists only when the CPU offers its
/// feature (SDM Vol. 3C ch. 25; Vol. 3D App. B; Bochs 2.7 cpu/vmcs.cc vmcs_field_supported).
/// </summary>
public sealed class SoftwareVmxDefectTests
{
    private static readonly VmxContext Ring0 = VmxContext.Long64;

    private static Dictionary<uint, ulong> BochsMsrs() =>
        Reference.Read("bochs-skylake-x-msrs.tsv").ToDictionary(r => Reference.Hex(r["msr"]), r => ulong.Parse(r["value"].AsSpan(2), NumberStyles.HexNumber,
            CultureInfo.InvariantCulture));

    private static Dictionary<uint, ulong> Reference64() => VmxProfile.ReferenceCpu.ToDictionary(kv => kv.Key, kv => kv.Value);

    private static InstructionOutcome Vmptrld(SoftwareVmx cpu, ulong address)
    {
        cpu.Memory.WriteUInt64(0x9000, address);
        return cpu.ExecuteVmptrld(Ring0, VmxOperand.Mem(0x9000));
    }

    private static InstructionOutcome Read(SoftwareVmx cpu, uint encoding) => cpu.ExecuteVmread(Ring0, VmxOperand.Reg(Gpr.Rcx, encoding),
        VmxOperand.Reg(Gpr.Rax));

    private static InstructionOutcome Write(SoftwareVmx cpu, uint encoding, ulong value) =>
        cpu.ExecuteVmwrite(Ring0, VmxOperand.Reg(Gpr.Rcx, encoding), VmxOperand.Reg(Gpr.Rax, value));

    public static IEnumerable<TestCaseData> Profiles()
    {
        yield return new TestCaseData(VmxProfile.Hardware()).SetName("RegionCopy(hardware, 1 KiB region)");
        yield return new TestCaseData(VmxProfile.Kvm).SetName("RegionCopy(kvm)");
        yield return new TestCaseData(VmxProfile.Hardware(BochsMsrs(), 40, "bochs")).SetName("RegionCopy(bochs skylake-x, 4 KiB region)");
        yield return new TestCaseData(VmxProfile.Hardware() with { Catalog = VmcsFieldCatalog.AllKnown }).SetName("RegionCopy(every known field, " +
            "1 KiB region)");
    }

    [TestCaseSource(nameof(Profiles))]
    public void AVmclearedRegionCopiedByTheBasicSizeKeepsEveryField(VmxProfile profile)
    {
        // kvm-unit-tests test_vmclear_flushing copies a cleared VMCS by the size IA32_VMX_BASIC reports; a layout that spills
        // past it loses the fields beyond.
        var cpu = new SoftwareVmx(profile);
        var size = (int)((cpu.ReadMsr(VmxMsr.Basic) >> 32) & 0x1FFF);
        Assert.That(cpu.RegionSize, Is.EqualTo(size));
        cpu.Memory.WriteUInt32(0x2000, profile.Revision);
        Assert.That(Vmptrld(cpu, 0x2000).IsSuccess);
        var fields = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => profile.Catalog.Supports(e) && !VmcsEncoding.IsHighAccess(e)).ToList();
        foreach (var e in fields)
        {
            Assert.That(Write(cpu, e, 0x0123_4567_89AB_CDEFul ^ e).IsSuccess, $"0x{e:X4}");
        }

        cpu.Memory.WriteUInt64(0x9008, 0x2000);
        Assert.That(cpu.ExecuteVmclear(Ring0, VmxOperand.Mem(0x9008)).IsSuccess);
        cpu.Memory.Copy(0x2000, 0x5000, size);
        Assert.That(Vmptrld(cpu, 0x5000).IsSuccess);
        foreach (var e in fields)
        {
            var mask = VmcsEncoding.AccessMask(e) & (VmcsEncoding.IsSegmentAccessRights(e) ? profile.AccessRightsWriteMask : ulong.MaxValue);
            Assert.That(Read(cpu, e).Value, Is.EqualTo((0x0123_4567_89AB_CDEFul ^ e) & mask), $"0x{e:X4} after the copy");
        }
    }

    [Test]
    public void FieldsThatDoNotFitTheReportedRegionSizeAreRefused()
    {
        var msrs = Reference64();
        msrs[VmxMsr.Basic] = (msrs[VmxMsr.Basic] & ~(0x1FFFul << 32)) | (0x100ul << 32);
        var e = Assert.Throws<ArgumentException>(() => _ = new SoftwareVmx(VmxProfile.Hardware(msrs)));
        Assert.That(e!.Message, Does.Contain("do not fit the 256-byte VMCS region IA32_VMX_BASIC reports"));
    }

    [Test]
    public void WithoutVmFunctionsTheirFieldsDoNotExist()
    {
        // Secondary control bit 13 ("enable VM functions") may not be 1: no VM-function controls (0x2018), no EPTP list (0x2024).
        var msrs = Reference64();
        msrs[VmxMsr.ProcBasedCtls2] &= ~((1ul << 13) << 32);
        var cpu = new SoftwareVmx(VmxProfile.Hardware(msrs));
        cpu.Memory.WriteUInt32(0x2000, cpu.Revision);
        Vmptrld(cpu, 0x2000);
        foreach (var e in new uint[] { 0x2018, 0x2019, 0x2024, 0x2025 })
        {
            Assert.That(Read(cpu, e).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent), $"VMREAD 0x{e:X4}");
            Assert.That(Write(cpu, e, 1).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent), $"VMWRITE 0x{e:X4}");
        }
    }

    [Test]
    public void WithoutEptpSwitchingTheEptpListDoesNotExist()
    {
        // VM functions on, IA32_VMX_VMFUNC bit 0 (EPTP switching) 0: the VM-function controls exist, the EPTP-list address does not.
        var msrs = Reference64();
        msrs[VmxMsr.VmFunc] = 0;
        var profile = VmxProfile.Hardware(msrs);
        Assert.That((profile.Catalog.Supports(0x2018), profile.Catalog.Supports(0x2024)), Is.EqualTo((true, false)));
        Assert.That(VmxProfile.Hardware().Catalog.Supports(0x2024), Is.True, "the reference CPU has EPTP switching");
    }

    [TestCase(VmxMsr.ProcBasedCtls2, 15, new uint[] { 0x202E }, TestName = "ENCLS exiting: ENCLS-exiting bitmap")]
    [TestCase(VmxMsr.ProcBasedCtls2, 25, new uint[] { 0x2032 }, TestName = "TSC scaling: TSC multiplier")]
    [TestCase(VmxMsr.ProcBasedCtls2, 20, new uint[] { 0x202C }, TestName = "XSAVES: XSS-exiting bitmap")]
    [TestCase(VmxMsr.ProcBasedCtls2, 18, new uint[] { 0x202A }, TestName = "EPT-violation #VE: #VE information address")]
    [TestCase(VmxMsr.ProcBasedCtls2, 10, new uint[] { 0x4020, 0x4022 }, TestName = "PAUSE-loop exiting: gap and window")]
    [TestCase(VmxMsr.ProcBasedCtls2, 5, new uint[] { 0x0000 }, TestName = "VPID: VIRTUAL_PROCESSOR_ID")]
    [TestCase(VmxMsr.TrueEntryCtls, 16, new uint[] { 0x2812 }, TestName = "load IA32_BNDCFGS (and no clear on exit): guest BNDCFGS")]
    public void AFeatureTheMsrsDoNotOfferHasNoFields(uint msr, int bit, uint[] encodings)
    {
        var msrs = Reference64();
        var on = VmxProfile.Hardware(msrs);
        msrs[msr] &= ~(1ul << (32 + bit));
        if (msr == VmxMsr.TrueEntryCtls)
        {
            msrs[VmxMsr.EntryCtls] &= ~(1ul << (32 + bit));
            msrs[VmxMsr.TrueExitCtls] &= ~(1ul << (32 + 23));
            msrs[VmxMsr.ExitCtls] &= ~(1ul << (32 + 23));
        }

        if (!encodings.All(on.Catalog.Supports))
        {
            msrs[msr] |= 1ul << (32 + bit);
            on = VmxProfile.Hardware(msrs);
            msrs[msr] &= ~(1ul << (32 + bit));
        }

        var off = VmxProfile.Hardware(msrs);
        Assert.That(encodings.Select(on.Catalog.Supports), Is.All.True, "offered: the fields exist");
        Assert.That(encodings.Select(off.Catalog.Supports), Is.All.False, "not offered: they do not");
    }

    [Test]
    public void TheIoExitInformationFieldsExistOnEveryCpu()
    {
        // The differential run (seed 1, program 3221): Bochs accepts VMWRITE 0x6402 (I/O RCX); SDM Vol. 3D B.4.4 lists I/O
        // RCX, RSI, RDI and RIP (0x6402-0x6408) without a condition. KVM's vmcs12 does not name them, so the Kvm profile lacks them.
        var io = new uint[] { 0x6402, 0x6404, 0x6406, 0x6408 };
        Assert.That(io.Select(VmxProfile.Hardware().Catalog.Supports), Is.All.True);
        Assert.That(io.Select(VmxProfile.Hardware(BochsMsrs(), 40).Catalog.Supports), Is.All.True);
        Assert.That(io.Select(VmxProfile.Kvm.Catalog.Supports), Is.All.False);
    }

    [Test]
    public void BochsSkylakeXLacksTheFieldsOfWhatItsMsrsDoNotOffer()
    {
        // The differential run's first divergences: Bochs answered VMfailValid(12) for these, SoftwareVmx had them.
        var profile = VmxProfile.Hardware(BochsMsrs(), 40, "bochs");
        var absent = new uint[] { 0x0008, 0x202E, 0x2034, 0x203C, 0x2042, 0x2812, 0x2814, 0x4024, 0x6828, 0x682A, 0x682C, 0x6C18, 0x6C1A, 0x6C1C };
        Assert.That(absent.Where(profile.Catalog.Supports), Is.Empty);
        Assert.That(new uint[] { 0x2018, 0x2024, 0x2026, 0x2028, 0x202C, 0x2032, 0x0812, 0x482E }.All(profile.Catalog.Supports), "what Bochs offers stays");
    }
}
