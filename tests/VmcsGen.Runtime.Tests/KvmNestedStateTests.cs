using System;
using System.Buffers.Binary;
using System.Linq;
using CsCheck;
using NUnit.Framework;
using VmcsGen.Backends.Kvm;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>struct kvm_nested_state (VMX format) from blobs built here byte by byte, independently of the serializer.</summary>
public sealed class KvmNestedStateTests
{
    private const int Header = 128, Image = 4096;

    /// <summary>A blob as KVM would lay it out: header fields at their uapi offsets, then the images.</summary>
    internal static byte[] Blob(ushort flags = 0, ulong vmxon = 0x1000, ulong vmcs12 = 0x2000, ushort smm = 0, uint vmxFlags = 0, ulong deadline = 0,
        int images = 1, uint revision = 0x11e57ed0)
    {
        var blob = new byte[Header + (images * Image)];
        BinaryPrimitives.WriteUInt16LittleEndian(blob.AsSpan(0), flags);
        BinaryPrimitives.WriteUInt16LittleEndian(blob.AsSpan(2), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), (uint)blob.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(8), vmxon);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(16), vmcs12);
        BinaryPrimitives.WriteUInt16LittleEndian(blob.AsSpan(24), smm);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(28), vmxFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(32), deadline);
        for (var i = 0; i < images; i++)
        {
            var at = Header + (i * Image);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(at), revision | (i == 1 ? 0x8000_0000u : 0));
            BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(at + 544), 0xFFFF_8000_0000_1000ul + (ulong)i); // GUEST_RIP
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(at + 812), 10);                                // VM_EXIT_REASON
        }

        return blob;
    }

    [Test]
    public void EveryHeaderFieldAndBothImagesAreRead()
    {
        var state = KvmNestedState.Parse(Blob(flags: 0x3, vmxon: 0x7000, vmcs12: 0x8000, smm: 0x2, vmxFlags: 1, deadline: 0x1234_5678_9ABC, images: 2));

        Assert.Multiple(() =>
        {
            Assert.That(state.Flags, Is.EqualTo(KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.RunPending));
            Assert.That((state.VmxonPa, state.Vmcs12Pa, state.SmmFlags, state.VmxHeaderFlags, state.PreemptionTimerDeadline),
                Is.EqualTo((0x7000ul, 0x8000ul, (ushort)2, 1u, 0x1234_5678_9ABCul)));
            Assert.That(state.Vmcs12!.Value.GuestRip, Is.EqualTo(0xFFFF_8000_0000_1000ul), "vmcs12 is KVM's layout");
            Assert.That(state.Vmcs12!.Value.VmExitReason, Is.EqualTo(10u));
            Assert.That(state.ShadowVmcs12!.Value.ShadowIndicator, Is.True);
            Assert.That(state.ShadowVmcs12!.Value.GuestRip, Is.EqualTo(0xFFFF_8000_0000_1001ul));
            Assert.That(state.Size, Is.EqualTo(Header + (2 * Image)));
        });
    }

    [TestCase(0, TestName = "outside VMX operation: header only")]
    [TestCase(1, TestName = "with vmcs12")]
    [TestCase(2, TestName = "with vmcs12 and shadow vmcs12")]
    public void SerializeGivesBackTheExactBlob(int images)
    {
        var blob = images == 0 ? Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, images: 0) : Blob(images: images);
        Assert.That(KvmNestedState.Parse(blob).Serialize(), Is.EqualTo(blob));
    }

    [TestCase(0, 0, "header")]
    [TestCase(127, 127, "header")]
    public void ABlobShorterThanTheHeaderIsRejected(int length, int offset, string field)
    {
        var error = Assert.Throws<InvalidNestedStateException>(() => KvmNestedState.Parse(Blob(images: 2).AsSpan(0, length)))!;
        Assert.That((error.Offset, error.Field), Is.EqualTo((offset, field)), error.Message);
    }

    private static void Rejects(byte[] blob, int offset, string contains)
    {
        var error = Assert.Throws<InvalidNestedStateException>(() => KvmNestedState.Parse(blob))!;
        Assert.That(error.Offset, Is.EqualTo(offset), error.Message);
        Assert.That(error.Message, Does.StartWith($"kvm_nested_state: byte offset {offset} (").And.Contain(contains));
    }

    private static void Accepts(byte[] blob)
    {
        var state = KvmNestedState.Parse(blob);
        Assert.That(state.Serialize(), Is.EqualTo(blob), "an accepted blob round-trips byte for byte");
    }

    private static byte[] WithSize(byte[] blob, uint size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), size);
        return blob;
    }

    private static byte[] EnableShadowing(byte[] blob, ulong link)
    {
        // vmcs12 offsets (KVM's vmcs12.h): cpu_based_vm_exec_control 748, secondary_vm_exec_control 804, vmcs_link_pointer 176.
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(Header + 748), 1u << 31);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(Header + 804), 1u << 14);
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(Header + 176), link);
        return blob;
    }

    // Ported from tools/testing/selftests/kvm/x86/vmx_set_nested_state_test.c (Linux, about v6.17), in our words: each
    // case the selftest makes whose verdict does not depend on the vCPU, and the rule of x86.c / nested.c behind it.
    [Test]
    public void SelftestCasesThatDependOnlyOnTheBlob()
    {
        // main(): 'size' cannot be smaller than sizeof(kvm_nested_state) (x86.c).
        Rejects(WithSize(Blob(flags: 0x3, images: 0), 0), 4, "smaller than the 128-byte header");
        // main(): RUN_PENDING without GUEST_MODE (x86.c: "nested_run_pending implies guest_mode").
        Rejects(Blob(flags: 0x2, images: 0), 0, "RUN_PENDING needs");
        // main(): flags 0xf with a zero header: guest mode and eVMCS with no room for vmcs12 (nested.c, "Empty 'VMXON' state").
        Rejects(Blob(flags: 0xF, vmxon: 0, vmcs12: 0, images: 0), 4, "carries no vmcs12");
        // vmxon_pa = -1 with a vmcs12 pointer.
        Rejects(Blob(vmxon: ulong.MaxValue, vmcs12: 0x2000), 16, "there is no current vmcs12");
        // vmxon_pa = -1 and SMM flags.
        Rejects(Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, smm: 1), 24, "SMM flags must be zero");
        // vmxon_pa = vmcs12_pa = -1, flags 0: accepted (leaves nested).
        Accepts(Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue));
        // Undefined VMX header flags, with and without a vmcs12.
        Rejects(Blob(vmxFlags: ~0u), 28, "undefined bits");
        Rejects(Blob(vmcs12: ulong.MaxValue, vmxFlags: ~0u, images: 0), 28, "undefined bits");
        // vmxon_pa not page aligned.
        Rejects(Blob(vmxon: 1), 8, "not 4 KiB aligned");
        // SMM guest mode together with guest mode.
        Rejects(Blob(flags: 0x3, smm: KvmNestedState.SmmGuestMode), 24, "exclude each other");
        // SMM flags besides SMM_GUEST_MODE and SMM_VMXON.
        Rejects(Blob(smm: unchecked((ushort)~3)), 24, "undefined bits");
        // SMM guest mode without SMM VMXON (the selftest's "outside SMM, SMM flags must be zero" fails here first).
        Rejects(Blob(smm: KvmNestedState.SmmGuestMode), 24, "needs SMM VMXON");
        // size = 128 with a vmcs12 pointer; and with vmcs12_pa = -1 it is accepted.
        Rejects(Blob(images: 0), 4, "carries no vmcs12");
        Accepts(Blob(vmcs12: ulong.MaxValue, images: 0));
        // A vmcs12 whose contents would fail VM entry is accepted while L2 is not running.
        var garbage = Blob();
        Array.Fill(garbage, (byte)0xA5, Header + 4, 900);
        Accepts(garbage);
        // vmxon_pa = vmcs12_pa.
        Rejects(Blob(vmxon: 0, vmcs12: 0), 16, "equals the VMXON pointer");
    }

    // What KVM accepts and a stricter parser refused (each a state KVM returns from GET or QEMU sets).
    [Test]
    public void StatesKvmAcceptsAreCarriedExactly()
    {
        // QEMU's reset state: vmxon_pa = -1 with the full 8320-byte buffer (target/i386/kvm/kvm.c kvm_init_nested_state).
        Accepts(Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, images: 2));
        // The shadow-VMCS bit in vmcs12's header: KVM compares revision_id, the low 31 bits.
        var shadowBit = Blob();
        shadowBit[Header + 3] |= 0x80;
        Accepts(shadowBit);
        // A launch state other than 0/1: VMPTRLD copies L1's region as it is and KVM never checks it.
        var launch = Blob();
        launch[Header + 8] = 7;
        Accepts(launch);
        // hdr.vmx.pad and the header bytes after the VMX header: never read by KVM.
        var pad = Blob();
        pad[26] = 0x55;
        pad[100] = 1;
        Accepts(pad);
        // Sizes KVM does not require to be 128 + n × 4096: it checks minimums only.
        Accepts(WithSize(Blob(images: 2).AsSpan(0, Header + Image + 100).ToArray(), Header + Image + 100));
        Accepts(WithSize(Blob(vmcs12: ulong.MaxValue, images: 0).Concat(new byte[500]).ToArray(), Header + 500));
        // GIF_SET with a VMX header in VMX operation: the generic check allows it, the VMX code ignores it.
        Accepts(Blob(flags: (ushort)KvmNestedStateFlags.GifSet));
        // A shadow page that is garbage while L2 is not running: KVM reads it only in guest mode.
        var shadow = Blob(images: 2);
        Array.Fill(shadow, (byte)0xFF, Header + Image, Image);
        Accepts(shadow);
        // Guest mode with shadowing enabled but link pointer -1: no shadow vmcs12 is needed.
        Accepts(EnableShadowing(Blob(flags: 1), ulong.MaxValue));
        // A vmcs12 image shorter than 4 KiB but holding all of struct vmcs12 (998 bytes).
        Accepts(WithSize(Blob().AsSpan(0, Header + KvmNestedState.Vmcs12StructSize).ToArray(), Header + KvmNestedState.Vmcs12StructSize));
    }

    [Test]
    public void StatesKvmRejectsAreRejectedWithItsReason()
    {
        // Guest mode, vmcs12 enables VMCS shadowing with a valid link pointer, no shadow page (nested.c: error_guest_mode).
        Rejects(EnableShadowing(Blob(flags: 1), 0x5000), 4, "needs the shadow vmcs12");
        // ... with a shadow page lacking the shadow indicator, or with another revision.
        var noIndicator = EnableShadowing(Blob(flags: 1, images: 2), 0x5000);
        noIndicator[Header + Image + 3] &= 0x7F;
        Rejects(noIndicator, Header + Image + 3, "shadow-VMCS indicator");
        var badShadowRevision = EnableShadowing(Blob(flags: 1, images: 2), 0x5000);
        badShadowRevision[Header + Image] ^= 0xFF;
        Rejects(badShadowRevision, Header + Image, "is not VMCS12_REVISION");
        // VMX operation with the data pages but no current vmcs12 and no eVMCS.
        Rejects(Blob(vmcs12: ulong.MaxValue), 16, "carries a vmcs12 but there is no current vmcs12");
        // Wrong vmcs12 revision; vmcs12 pointer not aligned; undefined flags; guest mode outside VMX operation.
        Rejects(Blob(revision: 0x1234), Header, "is not VMCS12_REVISION");
        Rejects(Blob(vmcs12: 0x2010), 16, "not 4 KiB aligned");
        Rejects(Blob(flags: 0x200), 0, "bits KVM does not define");
        Rejects(Blob(flags: 1, vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue), 0, "only KVM_STATE_NESTED_EVMCS");
        Rejects(Blob(flags: (ushort)KvmNestedStateFlags.GifSet, vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, images: 0), 0, "only KVM_STATE_NESTED_EVMCS");
        // A size field that promises a vmcs12 the blob does not have: KVM would fault reading it.
        Rejects(WithSize(Blob(images: 0), Header + Image), Header, "EFAULT");
        // Formats other than VMX and SVM.
        var format2 = Blob();
        format2[2] = 2;
        Rejects(format2, 2, "neither KVM_STATE_NESTED_FORMAT_VMX");
    }

    [Test]
    public void AnSvmStateIsCarriedAndJudgedBySvmsRules()
    {
        var svm = Blob(flags: (ushort)(KvmNestedStateFlags.GuestMode | KvmNestedStateFlags.GifSet), vmxon: 0x9000, vmcs12: 0);
        svm[2] = 1;
        var state = KvmNestedState.Parse(svm);
        Assert.That((state.Format, state.SvmVmcbPa), Is.EqualTo((KvmNestedStateFormat.Svm, 0x9000ul)));
        Assert.That(state.Serialize(), Is.EqualTo(svm));
        Assert.That(() => state.ValidateFor(new KvmVcpuContext()), Throws.TypeOf<InvalidNestedStateException>().With.Message.Contains("a VMX vCPU rejects it"));
        svm[8] = 0x10;
        Rejects(svm, 8, "svm.vmcb_pa");
        var evmcs = Blob(flags: (ushort)KvmNestedStateFlags.Evmcs);
        evmcs[2] = 1;
        Rejects(evmcs, 0, "SVM format does not take");
    }

    // The selftest cases whose verdict depends on the vCPU, and nested_vmx_check_controls (SDM 26.2.1.1).
    [Test]
    public void VcpuDependentRulesAreAValidationOfTheirOwn()
    {
        void RejectedFor(byte[] blob, KvmVcpuContext vcpu, string contains)
        {
            var state = KvmNestedState.Parse(blob);
            Assert.That(() => state.ValidateFor(vcpu), Throws.TypeOf<InvalidNestedStateException>().With.Message.Contains(contains));
        }

        RejectedFor(Blob(), new KvmVcpuContext(VmxInCpuid: false), "no VMX");
        RejectedFor(Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, flags: (ushort)KvmNestedStateFlags.Evmcs), new KvmVcpuContext(),
            "KVM_CAP_HYPERV_ENLIGHTENED_VMCS");
        RejectedFor(Blob(vmxon: 1ul << 40), new KvmVcpuContext(PhysicalAddressWidth: 39), "MAXPHYADDR");
        RejectedFor(Blob(vmcs12: 1ul << 40), new KvmVcpuContext(PhysicalAddressWidth: 39), "MAXPHYADDR");
        RejectedFor(Blob(smm: KvmNestedState.SmmVmxon), new KvmVcpuContext(), "outside SMM");
        RejectedFor(Blob(flags: 1), new KvmVcpuContext(InSmm: true), "in SMM");
        Assert.DoesNotThrow(() => KvmNestedState.Parse(Blob(smm: KvmNestedState.SmmVmxon)).ValidateFor(new KvmVcpuContext(InSmm: true)));
        Assert.DoesNotThrow(() =>
            KvmNestedState.Parse(Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue,
            flags: (ushort)KvmNestedStateFlags.Evmcs)).ValidateFor(new KvmVcpuContext(EnlightenedVmcsEnabled: true)));

        // Guest mode: vmcs12's pin-based controls 0 break a capability MSR whose allowed-0 bits are 0x16.
        var caps = new VmxCapabilities(CapabilityTests.SkylakeServer());
        RejectedFor(Blob(flags: 1), new KvmVcpuContext(Capabilities: caps), "pin_based_vm_exec_control");
        var good = Blob(flags: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(Header + 744), caps.MustBeOne(VmxControl.PinBased));
        BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(Header + 748), caps.MustBeOne(VmxControl.PrimaryProcessorBased));
        BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(Header + 768), caps.MustBeOne(VmxControl.VmExit));
        BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(Header + 780), caps.MustBeOne(VmxControl.VmEntry));
        Assert.DoesNotThrow(() => KvmNestedState.Parse(good).ValidateFor(new KvmVcpuContext(Capabilities: caps)));
    }

    [Test]
    public void TheTypedSettersWriteTheBytes()
    {
        var state = new KvmNestedState { VmxonPa = 0x1000, Vmcs12Pa = 0x2000 };
        var vmcs12 = default(Vmcs12);
        vmcs12.RevisionId = Vmcs12.Revision;
        vmcs12.GuestRip = 0x1234;
        state.Vmcs12 = vmcs12;
        var blob = state.Serialize();
        Assert.That((blob.Length, BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4))), Is.EqualTo((Header + Image, (uint)(Header + Image))));
        Assert.That(KvmNestedState.Parse(blob).Vmcs12!.Value.GuestRip, Is.EqualTo(0x1234ul));
        state.Vmcs12 = null;
        state.Vmcs12Pa = KvmNestedState.InvalidAddress;
        Assert.That(state.Serialize().Length, Is.EqualTo(Header));
    }

    [Test]
    public void AnInvalidStateSerializesToNothing()
    {
        var state = KvmNestedState.Parse(Blob());
        state.Vmcs12Pa = 0x2004;
        byte[]? blob = null;
        Assert.Throws<InvalidNestedStateException>(() => blob = state.Serialize());
        Assert.That(blob, Is.Null);
    }

    [Test]
    public void MutatedBlobsEitherParseOrThrowTheDocumentedException()
    {
        byte[][] seeds = [Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, images: 0), Blob(vmcs12: ulong.MaxValue, images: 0), Blob(flags: 1),
            Blob(images: 2)];
        var mutation = Gen.Select(Gen.Int[0, 8191 + 128], Gen.Byte);
        var parsed = 0;
        var rejected = 0;
        Gen.Select(Gen.Int[0, seeds.Length - 1], mutation.Array[1, 6], Gen.Int[-200, 200]).Sample((seed, flips, resize) =>
        {
            var blob = seeds[seed].ToList();
            foreach (var (at, value) in flips)
            {
                if (at < blob.Count)
                {
                    blob[at] = value;
                }
            }

            var length = Math.Max(0, blob.Count + (resize % 3 == 0 ? resize : 0));
            var bytes = blob.Concat(new byte[Math.Max(0, length - blob.Count)]).Take(length).ToArray();
            if (resize % 5 == 0 && bytes.Length >= 8)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length);
            }
            try
            {
                var state = KvmNestedState.Parse(bytes);
                System.Threading.Interlocked.Increment(ref parsed);
                return state.Serialize().AsSpan().SequenceEqual(bytes);
            }
            catch (InvalidNestedStateException e)
            {
                System.Threading.Interlocked.Increment(ref rejected);
                return e.Offset >= 0 && e.Offset <= Math.Max(bytes.Length, 128);
            }
        }, iter: 20_000);

        TestContext.Out.WriteLine($"20,000 mutated blobs: {parsed} accepted and round-tripped byte for byte, " +
            $"{rejected} rejected with InvalidNestedStateException");
        Assert.That(parsed, Is.GreaterThan(100), "the fuzz reaches valid states too");
        Assert.That(rejected, Is.GreaterThan(1000));
    }
}
