using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace VmcsGen.Runtime.Tests;

public sealed class CapabilityTests
{
    /// <summary>
    /// A mutable copy of <see cref="Software.VmxProfile.ReferenceCpu"/> (a Skylake-SP server as QEMU's scripts/kvm/vmxcap
    /// prints it): the tests below decode it and check each value against the SDM's bit definitions by hand.
    /// </summary>
    public static Dictionary<uint, ulong> SkylakeServer() => new(Software.VmxProfile.ReferenceCpu);

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
