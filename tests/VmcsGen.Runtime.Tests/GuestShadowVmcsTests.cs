using System.Linq;
using NUnit.Framework;
using VmcsGen.Software;
using static VmcsGen.Runtime.Tests.VmxProcessorHelpers;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The guest's VMREAD/VMWRITE in VMX non-root operation: the VMREAD/VMWRITE bitmaps, the link pointer and "VMCS
/// shadowing" decide between the shadow VMCS and a VM exit (kvm-unit-tests x86/vmx_tests.c vmx_vmcs_shadow_test, commit 1da1819e, the SDM).
/// </summary>
public sealed class GuestShadowVmcsTests
{
    /// <summary>A processor running a guest on a working VMCS with VMCS shadowing, bitmaps at 0xA000/0xB000 and a shadow VMCS at 0x3000.</summary>
    private static SoftwareVmx Guest(ulong link = 0x3000, bool shadowing = true)
    {
        var cpu = new SoftwareVmx(VmxProfile.Kvm with { EntryChecks = false });
        Region(cpu, 0x2000);
        Region(cpu, 0x3000, shadow: true);
        Vmptrld(cpu, 0x2000);
        cpu.Memory.Write(0xA000, Enumerable.Repeat((byte)0xFF, 4096).ToArray());
        cpu.Memory.Write(0xB000, Enumerable.Repeat((byte)0xFF, 4096).ToArray());
        Write(cpu, 0x4002, VmxCapabilities.ActivateSecondaryControls);
        Write(cpu, 0x401E, shadowing ? VmxCapabilities.SecondaryVmcsShadowing : 0);
        Write(cpu, 0x2026, 0xA000);
        Write(cpu, 0x2028, 0xB000);
        Write(cpu, 0x2800, link);
        Assert.That(cpu.ExecuteVmlaunch(Ring0).IsSuccess);
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.NonRoot));
        return cpu;
    }

    private static void Allow(SoftwareVmx cpu, ulong bitmap, uint encoding)
    {
        var at = bitmap + (encoding >> 3);
        var bytes = new byte[1];
        cpu.Memory.Read(at, bytes);
        bytes[0] &= (byte)~(1 << (int)(encoding & 7));
        cpu.Memory.Write(at, bytes);
    }

    [Test]
    public void WithTheBitmapBitSetTheGuestsAccessExits()
    {
        var cpu = Guest();
        var exit = Read(cpu, GuestSsSelector);
        Assert.That((exit.Kind, exit.ExitReason), Is.EqualTo((InstructionOutcomeKind.VmExit, VmxExitReason.VmRead)));
        Assert.That(exit.InstructionInformation & (1u << 10), Is.Not.Zero, "a register operand");
        Assert.That(exit.InstructionInformation >> 28, Is.EqualTo((uint)Gpr.Rcx), "reg2 is the encoding register");
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.Root));
        Assert.That(Read(cpu, ExitReason).Value, Is.EqualTo((ulong)VmxExitReason.VmRead), "the exit reason is in the working VMCS");
    }

    [Test]
    public void AClearBitmapBitServesTheAccessFromTheShadowVmcs()
    {
        var cpu = Guest();
        Allow(cpu, 0xA000, GuestSsSelector);
        Allow(cpu, 0xB000, GuestSsSelector);
        Assert.That(Write(cpu, GuestSsSelector, 0x2B).IsSuccess);
        Assert.That(Read(cpu, GuestSsSelector).Value, Is.EqualTo(0x2Bul));
        Assert.That(cpu.Operation, Is.EqualTo(VmxOperation.NonRoot), "no VM exit");
        Assert.That(cpu.Peek(0x3000, GuestSsSelector), Is.EqualTo(0x2Bul), "the value is in the shadow VMCS");
        Assert.That(cpu.Peek(0x2000, GuestSsSelector), Is.Zero, "not in the working VMCS");
        // A write allowed by the VMWRITE bitmap only, with the VMREAD bit set: the read still exits.
        Allow(cpu, 0xB000, 0x0806);
        Assert.That(Write(cpu, 0x0806, 1).IsSuccess);
        Assert.That(Read(cpu, 0x0806).Kind, Is.EqualTo(InstructionOutcomeKind.VmExit));
    }

    [Test]
    public void EncodingsAboveBit14AlwaysExitAndUnsupportedOnesFailIntoTheWorkingVmcs()
    {
        var cpu = Guest();
        Assert.That(Read(cpu, 0x8000 | GuestSsSelector).ExitReason, Is.EqualTo(VmxExitReason.VmRead), "bits 63:15 set: VM exit whatever the bitmap");
        cpu = Guest();
        Allow(cpu, 0xA000, 0x0006); // no such field
        var fail = Read(cpu, 0x0006);
        Assert.That(fail.Error, Is.EqualTo(VmxInstructionError.UnsupportedVmcsComponent));
        Assert.That(cpu.Peek(0x2000, InstructionError), Is.EqualTo(12ul), "SDM 31.2: VMfailValid writes the current (working) VMCS");
        Assert.That(cpu.Peek(0x3000, InstructionError), Is.Zero);
    }

    [Test]
    public void LinkPointerMinusOneIsVmfailInvalidAndShadowingOffAlwaysExits()
    {
        var cpu = Guest(link: ulong.MaxValue);
        Allow(cpu, 0xA000, GuestSsSelector);
        Assert.That(Read(cpu, GuestSsSelector).Kind, Is.EqualTo(InstructionOutcomeKind.FailInvalid));
        cpu = Guest(shadowing: false);
        Allow(cpu, 0xA000, GuestSsSelector);
        Assert.That(Read(cpu, GuestSsSelector).ExitReason, Is.EqualTo(VmxExitReason.VmRead));
        cpu = Guest();
        Assert.That(Vmptrld(cpu, 0x2000).ExitReason, Is.EqualTo(VmxExitReason.VmPtrLd), "other VMX instructions exit unconditionally");
    }
}
