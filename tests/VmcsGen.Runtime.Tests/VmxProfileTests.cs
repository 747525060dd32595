using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;
using static VmcsGen.Runtime.Tests.VmxProcessorHelpers;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// What a SoftwareVmx answers from its profile: KVM's vmcs12 (VMCS12_REVISION, its VMCS_ENUM, no CR3 targets, masked
/// access rights) and a hardware profile built from capability MSRs.
/// </summary>
public sealed class VmxProfileTests
{
    [Test]
    public void TheKvmProfileIsVmcs12AsKvmEmulatesIt()
    {
        var cpu = Root();
        Assert.That(cpu.ReadMsr(VmxMsr.Basic) & 0x7FFF_FFFF, Is.EqualTo(0x11e57ed0ul), "VMCS12_REVISION");
        Assert.That((cpu.ReadMsr(VmxMsr.VmcsEnum) >> 1) & 0x1FF, Is.EqualTo(0x19ul), "highest index: TSC_MULTIPLIER");
        Assert.That((cpu.ReadMsr(VmxMsr.Misc) >> 16) & 0x1FF, Is.Zero, "no CR3 targets");
        Region(cpu, 0x2000);
        Vmptrld(cpu, 0x2000);
        Assert.That(Read(cpu, 0x6008).Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent), "CR3_TARGET_VALUE0 is vmcs12's dead space");
        Write(cpu, 0x4814, 0xFFFF_FFFF);
        Assert.That(Read(cpu, 0x4814).Value, Is.EqualTo(0x1F0FFul), "vmcs12_write_any masks AR bytes with 0x1f0ff");
    }

    [Test]
    public void AHardwareProfileFollowsItsCapabilityMsrs()
    {
        var msrs = VmxProfile.ReferenceCpu.ToDictionary(kv => kv.Key, kv => kv.Value);
        msrs[VmxMsr.ProcBasedCtls2] &= ~((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32);
        var profile = VmxProfile.Hardware(msrs);
        var cpu = new SoftwareVmx(profile);
        Assert.That(profile.Revision, Is.EqualTo(4u));
        Assert.That((profile.Catalog.Supports(0x2026), profile.Catalog.Supports(0x2028)), Is.EqualTo((false, false)), "no shadowing, no bitmap fields");
        Assert.That(cpu.ReadMsr(VmxMsr.ProcBasedCtls2) & ((ulong)VmxCapabilities.SecondaryVmcsShadowing << 32), Is.Zero);
        Assert.That((cpu.ReadMsr(VmxMsr.Misc) >> 16) & 0x1FF, Is.EqualTo(4ul));
        Assert.That(profile.Catalog.Supports(0x600E), Is.True, "4 CR3-target values");
        Assert.That((cpu.ReadMsr(VmxMsr.VmcsEnum) >> 1) & 0x1FF, Is.EqualTo(profile.Catalog.HighestIndex));
        Assert.That(new SoftwareVmx(vmcsShadowing: false).Catalog.Supports(0x2026), Is.False, "the field-by-field constructor agrees");
    }
}
