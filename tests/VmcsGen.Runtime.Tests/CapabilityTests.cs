using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace VmcsGen.Runtime.Tests;

public sealed class CapabilityTests
{
    /// <summary>
    /// Capability MSRs modelled on a Skylake-SP server as QEMU's scripts/kvm/vmxcap prints them (hand-checked below bit by
    /// bit against the SDM; not copied from one specific machine): revision 4, 1 KiB region, TRUE controls, WB.
    /// </summary>
    public static Dictionary<uint, ulong> SkylakeServer() => new()
    {
        [VmxMsr.Basic] = 0x00DA_0400_0000_0004,
        [VmxMsr.PinBasedCtls] = 0x0000_00FF_0000_0016,
        [VmxMsr.ProcBasedCtls] = 0xFFF9_FFFE_0401_E172,
        [VmxMsr.ExitCtls] = 0x01FF_FFFF_0003_6DFF,
        [VmxMsr.EntryCtls] = 0x0003_FFFF_0000_11FF,
        [VmxMsr.Misc] = 0x0000_0000_7004_C1E7,
        [VmxMsr.VmcsEnum] = 0x0000_0000_0000_002E,
        [VmxMsr.ProcBasedCtls2] = 0x0077_FFFF_0000_0000,
        [VmxMsr.EptVpidCap] = 0x0000_0F01_0673_4141,
        [VmxMsr.TruePinBasedCtls] = 0x0000_00FF_0000_0016,
        [VmxMsr.TrueProcBasedCtls] = 0xFFF9_FFFE_0400_6172,
        [VmxMsr.TrueExitCtls] = 0x01FF_FFFF_0003_6DFB,
        [VmxMsr.TrueEntryCtls] = 0x0003_FFFF_0000_11FB,
    };

    [Test]
    public void BasicAndMiscAreDecoded()
    {
        var caps = new VmxCapabilities(SkylakeServer());
        Assert.Multiple(() =>
        {
            Assert.That(caps.Revision, Is.EqualTo(4u));
            Assert.That(caps.RegionSize, Is.EqualTo(1024));
            Assert.That(caps.HasTrueControls, Is.True);
            Assert.That(caps.VmwriteAnyField, Is.True, "MISC bit 29");
            Assert.That(caps.VmcsShadowing, Is.True, "secondary bit 14 allowed");
            Assert.That(caps.HighestFieldIndex, Is.EqualTo(0x17u), "VMCS_ENUM 0x2E");
            Assert.That((caps.HasApicv, caps.HasPml, caps.HasPreemptionTimer), Is.EqualTo((true, true, true)));
        });
    }

    [Test]
    public void TrueControlsAreUsedWhenBasicBit55IsSet()
    {
        var caps = new VmxCapabilities(SkylakeServer());
        Assert.That(caps.MustBeOne(VmxControl.PrimaryProcessorBased), Is.EqualTo(0x0400_6172u), "TRUE_PROCBASED lets CR3-load/store exiting be 0");

        var plain = SkylakeServer();
        plain[VmxMsr.Basic] &= ~(1ul << 55);
        Assert.That(new VmxCapabilities(plain).MustBeOne(VmxControl.PrimaryProcessorBased), Is.EqualTo(0x0401_E172u));
    }

    [Test]
    public void AdjustAddsMustBeOneBitsAndNamesForbiddenOnes()
    {
        var caps = new VmxCapabilities(SkylakeServer());
        Assert.That(caps.Adjust(VmxControl.PinBased, 0x1), Is.EqualTo(0x17ul));

        var error = Assert.Throws<VmxCapabilityException>(() => caps.Adjust(VmxControl.PinBased, 0x100 | 0x1))!;
        Assert.That(error.Message, Does.Contain("PinBased").And.Contain("bit(s) 8 (0x100)"));
    }

    [Test]
    public void WithoutSecondaryControlsNothingSecondaryIsAllowed()
    {
        var msrs = SkylakeServer();
        msrs[VmxMsr.TrueProcBasedCtls] &= ~((ulong)VmxCapabilities.ActivateSecondaryControls << 32);
        var caps = new VmxCapabilities(msrs);

        Assert.That((caps.VmcsShadowing, caps.HasApicv, caps.HasPml), Is.EqualTo((false, false, false)));
        Assert.Throws<VmxCapabilityException>(() => caps.Adjust(VmxControl.SecondaryProcessorBased, VmxCapabilities.SecondaryEnableEpt));
    }

    [Test]
    public void PmlNeedsEptAccessedDirtyFlags()
    {
        var msrs = SkylakeServer();
        msrs[VmxMsr.EptVpidCap] &= ~(1ul << 21);
        Assert.That(new VmxCapabilities(msrs).HasPml, Is.False);
    }

    [Test]
    public void AMissingRequiredMsrIsNamed()
    {
        var msrs = SkylakeServer();
        msrs.Remove(VmxMsr.TrueEntryCtls);
        var error = Assert.Throws<ArgumentException>(() => new VmxCapabilities(msrs))!;
        Assert.That(error.Message, Does.Contain("IA32_VMX_TRUE_ENTRY_CTLS (MSR 0x490)"));
    }

    [Test]
    public void UnknownFeaturesCountAsAbsent() =>
        Assert.That(new VmxCapabilities(SkylakeServer()).Has("fred"), Is.False);
}
