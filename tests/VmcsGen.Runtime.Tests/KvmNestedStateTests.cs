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
    internal static byte[] Blob(ushort flags = 0, ulong vmxon = 0x1000, ulong vmcs12 = 0x2000, ushort smm = 0, uint vmxFlags = 0, ulong deadline = 0, int images = 1, uint revision = 0x11e57ed0)
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
    [TestCase(128 + 100, 4, "size")]
    [TestCase(128 + 4096 + 1, 4, "size")]
    public void TruncatedOrOddLengthsAreRejected(int length, int offset, string field)
    {
        var blob = Blob(images: 2).AsSpan(0, Math.Min(length, 128 + 8192)).ToArray();
        if (blob.Length >= 8)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), (uint)blob.Length);
        }

        var error = Assert.Throws<InvalidNestedStateException>(() => KvmNestedState.Parse(blob))!;
        Assert.That((error.Offset, error.Field), Is.EqualTo((offset, field)), error.Message);
    }

    [Test]
    public void EveryRuleNamesItsOffset()
    {
        void Rejects(byte[] blob, int offset, string contains)
        {
            var error = Assert.Throws<InvalidNestedStateException>(() => KvmNestedState.Parse(blob))!;
            Assert.That(error.Offset, Is.EqualTo(offset), error.Message);
            Assert.That(error.Message, Does.StartWith($"kvm_nested_state: byte offset {offset} (").And.Contain(contains));
        }

        var svmFormat = Blob();
        svmFormat[2] = 1;
        Rejects(svmFormat, 2, "not KVM_STATE_NESTED_FORMAT_VMX");
        var wrongSize = Blob();
        BinaryPrimitives.WriteUInt32LittleEndian(wrongSize.AsSpan(4), 999);
        Rejects(wrongSize, 4, "size 999 does not match");
        Rejects(Blob(flags: 0x100), 0, "bits the VMX format does not define");
        Rejects(Blob(flags: 0x2), 0, "RUN_PENDING needs");
        Rejects(Blob(vmxon: 0x1008), 8, "not 4 KiB aligned");
        Rejects(Blob(vmxon: ulong.MaxValue, images: 1), 8, "outside VMX operation");
        Rejects(Blob(vmcs12: 0x2010), 16, "not 4 KiB aligned");
        Rejects(Blob(vmcs12: 0x1000), 16, "equals the VMXON pointer");
        Rejects(Blob(vmcs12: ulong.MaxValue), 128, "no image may follow");
        Rejects(Blob(images: 0), 4, "needs its 4096-byte image");
        Rejects(Blob(smm: 0x4), 24, "undefined bits");
        Rejects(Blob(smm: 0x1), 24, "SMM guest mode needs SMM VMXON");
        Rejects(Blob(flags: 1, smm: 0x3), 24, "cannot be in guest mode");
        Rejects(Blob(vmxFlags: 2), 28, "undefined bits");
        Rejects(Blob(revision: 0x1234), 128, "is not VMCS12_REVISION");
        var shadowFlagInVmcs12 = Blob();
        shadowFlagInVmcs12[128 + 3] |= 0x80;
        Rejects(shadowFlagInVmcs12, 128, "must not have the shadow-VMCS indicator");
        var launch = Blob();
        launch[128 + 8] = 7;
        Rejects(launch, 136, "launch state 7");
        var padding = Blob();
        padding[100] = 1;
        Rejects(padding, 100, "reserved bytes");
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
        byte[][] seeds = [Blob(vmxon: ulong.MaxValue, vmcs12: ulong.MaxValue, images: 0), Blob(vmcs12: ulong.MaxValue, images: 0), Blob(flags: 1), Blob(images: 2)];
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

        TestContext.Out.WriteLine($"20,000 mutated blobs: {parsed} parsed and round-tripped exactly, {rejected} rejected with InvalidNestedStateException");
        Assert.That(parsed, Is.GreaterThan(100), "the fuzz reaches valid states too");
        Assert.That(rejected, Is.GreaterThan(1000));
    }
}
