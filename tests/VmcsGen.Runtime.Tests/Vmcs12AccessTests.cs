using NUnit.Framework;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>VMREAD/VMWRITE semantics of the generated Vmcs12Access, one case per width and access form.</summary>
public sealed class Vmcs12AccessTests
{
    [TestCase(0x0800u, 0x1122_3344_5566_7788ul, 0x7788ul, TestName = "16-bit write truncates, read zero-extends")]
    [TestCase(0x4402u, 0x1122_3344_5566_7788ul, 0x5566_7788ul, TestName = "32-bit write truncates, read zero-extends")]
    [TestCase(0x2000u, 0x1122_3344_5566_7788ul, 0x1122_3344_5566_7788ul, TestName = "64-bit keeps all bits")]
    [TestCase(0x681Eu, 0x1122_3344_5566_7788ul, 0x1122_3344_5566_7788ul, TestName = "natural width keeps all bits on a 64-bit host")]
    public void WriteThenReadRoundTripsWithTheFieldsWidth(uint encoding, ulong written, ulong expected)
    {
        var vmcs12 = Vmcs12.Create();

        Assert.That(Vmcs12Access.Write(ref vmcs12, encoding, written), Is.EqualTo(VmxResult.Succeed));
        Assert.That(Vmcs12Access.Read(ref vmcs12, encoding, out var value), Is.EqualTo(VmxResult.Succeed));
        Assert.That(value, Is.EqualTo(expected));
    }

    [Test]
    public void HighFormMovesBits63To32Only()
    {
        var vmcs12 = Vmcs12.Create();
        vmcs12.IoBitmapA = 0x1111_2222_3333_4444;

        Assert.That(Vmcs12Access.Read(ref vmcs12, 0x2001, out var high), Is.EqualTo(VmxResult.Succeed));
        Assert.That(high, Is.EqualTo(0x1111_2222ul));
        Assert.That(Vmcs12Access.Write(ref vmcs12, 0x2001, 0xFFFF_FFFF_AAAA_BBBBul), Is.EqualTo(VmxResult.Succeed));
        Assert.That(vmcs12.IoBitmapA, Is.EqualTo(0xAAAA_BBBB_3333_4444ul), "the value's low 32 bits become bits 63:32; bits 31:0 stay");
    }

    [TestCase(0x0001u, TestName = "bit 0 on a 16-bit field")]
    [TestCase(0x681Fu, TestName = "bit 0 on a natural-width field")]
    [TestCase(0x1800u, TestName = "reserved bit 12")]
    [TestCase(0x0008u, TestName = "LAST_PID_POINTER_INDEX, not in KVM's vmcs12")]
    [TestCase(0x6008u, TestName = "CR3_TARGET_VALUE0, dead space in KVM's vmcs12")]
    public void UnsupportedEncodingsFailValid12AndWriteNothing(uint encoding)
    {
        var vmcs12 = Vmcs12.Create();
        var before = Vmcs12.AsBytes(ref vmcs12).ToArray();
        var unsupported = VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);

        Assert.That(Vmcs12Access.Read(ref vmcs12, encoding, out var value), Is.EqualTo(unsupported));
        Assert.That(value, Is.Zero);
        Assert.That(Vmcs12Access.Write(ref vmcs12, encoding, ulong.MaxValue), Is.EqualTo(unsupported));
        Assert.That(Vmcs12.AsBytes(ref vmcs12).ToArray(), Is.EqualTo(before));
    }

    [Test]
    public void HeaderMembersShareTheFirstDword()
    {
        var vmcs12 = Vmcs12.Create();
        vmcs12.ShadowIndicator = true;

        Assert.That(vmcs12.RevisionId, Is.EqualTo(Vmcs12.Revision));
        Assert.That(System.BitConverter.ToUInt32(Vmcs12.AsBytes(ref vmcs12)[..4]), Is.EqualTo(Vmcs12.Revision | 0x8000_0000u));
        vmcs12.RevisionId = 0xFFFF_FFFF;
        Assert.That(vmcs12.ShadowIndicator, Is.True, "setting the revision keeps the shadow indicator");
        Assert.That(vmcs12.RevisionId, Is.EqualTo(0x7FFF_FFFFu));
    }
}
