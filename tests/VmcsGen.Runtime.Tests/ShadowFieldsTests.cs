using System;
using System.Collections.Generic;
using System.Linq;
using CsCheck;
using NUnit.Framework;
using VmcsGen.Layouts.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>The generated shadow machinery of fields/kvm.vmcs against KVM's lists and against the SoftwareVmx counters.</summary>
public sealed class ShadowFieldsTests
{
    private const ulong ShadowAddress = 0x3000;

    [Test]
    public void BitmapsEqualKvmsForAll32768Encodings()
    {
        // KVM: every bit set; RO entries clear the VMREAD bit; RW entries clear both (a _HIGH row is its own entry).
        var shadow = Reference.Fields().Where(f => f.Row["kvm_shadow"] is "RW" or "RO").ToDictionary(f => f.Encoding, f => f.Row["kvm_shadow"]);
        var vmread = ShadowFields.VmreadBitmap;
        var vmwrite = ShadowFields.VmwriteBitmap;
        Assert.That((vmread.Length, vmwrite.Length), Is.EqualTo((4096, 4096)));

        var mismatches = 0;
        for (uint encoding = 0; encoding < 0x8000; encoding++)
        {
            var kind = shadow.GetValueOrDefault(encoding);
            var readExits = kind is not ("RW" or "RO");
            var writeExits = kind is not "RW";
            if (Bit(vmread, encoding) != readExits || Bit(vmwrite, encoding) != writeExits)
            {
                mismatches++;
                TestContext.Out.WriteLine($"0x{encoding:X4}: KVM {kind ?? "-"}, VMREAD bit {Bit(vmread, encoding)}, VMWRITE bit {Bit(vmwrite, encoding)}");
            }
        }

        Assert.That(mismatches, Is.Zero);
    }

    [Test]
    public void BuildBitmapsKeepsAbsentFeaturesIntercepted()
    {
        var read = new byte[4096];
        var write = new byte[4096];

        ShadowFields.BuildBitmaps(Features.All, read, write);
        Assert.That(read, Is.EqualTo(ShadowFields.VmreadBitmap.ToArray()));
        Assert.That(write, Is.EqualTo(ShadowFields.VmwriteBitmap.ToArray()));

        ShadowFields.BuildBitmaps(Features.All & ~Features.Pml, read, write);
        Assert.That((Bit(read, 0x0812), Bit(write, 0x0812)), Is.EqualTo((true, true)), "GUEST_PML_INDEX traps without PML");
        Assert.That((Bit(read, 0x0810), Bit(write, 0x0810)), Is.EqualTo((false, false)), "GUEST_INTR_STATUS stays shadowed");
        var changed = Enumerable.Range(0, 4096).Count(i => read[i] != ShadowFields.VmreadBitmap[i] || write[i] != ShadowFields.VmwriteBitmap[i]);
        Assert.That(changed, Is.EqualTo(1), "only the byte holding bit 0x0812 changes");

        Assert.Throws<ArgumentException>(() => ShadowFields.BuildBitmaps(Features.All, new byte[4095], write));
    }

    [Test]
    public void TablesListKvmsFieldsWithTheirOffsets()
    {
        var rw = ShadowFields.ReadWriteEncodings.ToArray();
        var ro = ShadowFields.ReadOnlyEncodings.ToArray();
        var offsets = Reference.KvmOffsets();
        Assert.Multiple(() =>
        {
            Assert.That(rw, Has.Length.EqualTo(24));
            Assert.That(ro, Has.Length.EqualTo(11), "12 KVM entries minus GUEST_PHYSICAL_ADDRESS_HIGH, which is derived");
            Assert.That(ShadowFields.ReadWriteOffsets.ToArray(), Is.EqualTo(rw.Select(e => (ushort)offsets[e]).ToArray()));
            Assert.That(ShadowFields.ReadOnlyOffsets.ToArray(), Is.EqualTo(ro.Select(e => (ushort)offsets[e]).ToArray()));
        });
    }

    [Test]
    public void CopyLoopsRoundTripEveryShadowedFieldAndTouchNothingElse()
    {
        var image = Gen.Byte.Array[Vmcs12.Size];
        Gen.Select(image, image, Gen.Enum<Features>().Array[0, 3]).Sample((source, target, featureBits) =>
        {
            var features = featureBits.Aggregate(Features.None, (a, f) => a | f) & Features.All;
            var (cpu, shadow) = NewShadow();
            var from = FromBytes(source);
            var to = FromBytes(target);
            var before = cpu.Counters;

            Assert.That(ShadowFields.CopyVmcs12ToShadow(ref shadow, ref from, features), Is.EqualTo(VmxResult.Succeed));
            Assert.That(ShadowFields.CopyShadowToVmcs12(ref shadow, ref to, features), Is.EqualTo(VmxResult.Succeed));

            var rw = Shadowed(ShadowFields.ReadWriteEncodings, features);
            var ro = Shadowed(ShadowFields.ReadOnlyEncodings, features);
            var counts = cpu.Counters - before;
            Assert.That(counts, Is.EqualTo(new VmcsCounters(rw.Length, rw.Length + ro.Length, 0, 0, 0)),
                "one VMREAD per RW field, one VMWRITE per RW and RO field");
            foreach (var encoding in rw.Concat(ro))
            {
                Assert.That(cpu.WritesOf(encoding), Is.EqualTo(1), $"0x{encoding:X4} written once");
                Assert.That(cpu.WritesOf(encoding | 1), Is.Zero, "no separate _HIGH copy on a 64-bit host");
                Assert.That(cpu.ReadsOf(encoding), Is.EqualTo(rw.Contains(encoding) ? 1 : 0), $"0x{encoding:X4}: read back only if RW");
            }

            var expected = (byte[])target.Clone();
            foreach (var encoding in rw)
            {
                VmcsFieldInfo.TryGetField(encoding, out var field);
                Array.Copy(source, field.Offset, expected, field.Offset, field.AccessSize);
            }

            Assert.That(Vmcs12.AsBytes(ref to).ToArray(), Is.EqualTo(expected), "RW fields come back; every other byte of vmcs12 is untouched");
        }, iter: 200);
    }

    [Test]
    public void CopyReportsTheFirstFailureWhenTheShadowLacksAField()
    {
        var cpu = new SoftwareVmx(VmcsFieldCatalog.AllKnown.Without(0x0812));
        cpu.CreateRegion(ShadowAddress, shadow: true);
        Assert.That(cpu.VmPtrLd(ShadowAddress), Is.EqualTo(VmxResult.Succeed));
        var shadow = cpu.Vmcs;
        var vmcs12 = Vmcs12.Create();

        Assert.That(ShadowFields.CopyVmcs12ToShadow(ref shadow, ref vmcs12, Features.All),
            Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        Assert.That(ShadowFields.CopyVmcs12ToShadow(ref shadow, ref vmcs12, Features.All & ~Features.Pml), Is.EqualTo(VmxResult.Succeed),
            "without PML the field is skipped");
    }

    [Test]
    public void CopyLoopsLeaveAStatefulStructBackendAsCallsThroughTheRefWould()
    {
        // The copy loops run on a local copy of the backend (so the JIT keeps it in registers) and write it back unless
        // it is an IVmcsHandle: a struct that counts in its own fields must end exactly as if every call went through the ref.
        var backend = new CountingStruct { FailAt = uint.MaxValue };
        var vmcs12 = Vmcs12.Create();
        Assert.That(ShadowFields.CopyShadowToVmcs12(ref backend, ref vmcs12, Features.All), Is.EqualTo(VmxResult.Succeed));
        Assert.That(ShadowFields.CopyVmcs12ToShadow(ref backend, ref vmcs12, Features.All), Is.EqualTo(VmxResult.Succeed));
        Assert.That(ExitSync.SyncVmcs02ToVmcs12(ref backend, ref vmcs12, Features.All), Is.EqualTo(VmxResult.Succeed));
        Assert.That(backend.Calls, Is.EqualTo((2 * ShadowFields.ReadWriteCount) + ShadowFields.ReadOnlyCount + ExitSync.EveryExitCount));

        // A backend that throws mid-loop keeps the calls made before the throw, as it would through the ref.
        var throwing = new CountingStruct { FailAt = 0x4002 };
        Assert.Throws<InvalidOperationException>(() => ShadowFields.CopyShadowToVmcs12(ref throwing, ref vmcs12, Features.All));
        var ungatedBefore = ShadowFields.ReadWriteEncodings.ToArray().Count(e => e < 0x4002 && VmcsFieldInfo.TryGetField(e, out var f) && f.FeatureMask == 0);
        Assert.That((throwing.Calls, throwing.Last), Is.EqualTo((ungatedBefore + 1, 0x4002u)));
    }

    /// <summary>A backend with state of its own (not an IVmcsHandle): counts its VMREADs and VMWRITEs in its fields.</summary>
    private struct CountingStruct : IVmcs
    {
        public int Calls;
        public uint Last;
        public uint FailAt;

        public VmxResult VmRead(uint encoding, out ulong value)
        {
            Count(encoding);
            value = encoding;
            return VmxResult.Succeed;
        }

        public VmxResult VmWrite(uint encoding, ulong value)
        {
            Count(encoding);
            return VmxResult.Succeed;
        }

        public readonly VmxResult VmPtrLd(ulong address) => VmxResult.Succeed;

        public readonly VmxResult VmClear(ulong address) => VmxResult.Succeed;

        private void Count(uint encoding)
        {
            Calls++;
            Last = encoding;
            if (encoding == FailAt)
            {
                throw new InvalidOperationException($"planted failure at 0x{encoding:X4}");
            }
        }
    }

    private static uint[] Shadowed(ReadOnlySpan<uint> encodings, Features features) =>
        encodings.ToArray().Where(e => VmcsFieldInfo.TryGetField(e, out var f) && (f.FeatureMask == 0 || ((ulong)features & f.FeatureMask) != 0)).ToArray();

    private static (SoftwareVmx Cpu, SoftwareVmcs Shadow) NewShadow()
    {
        var cpu = new SoftwareVmx();
        cpu.CreateRegion(ShadowAddress, shadow: true);
        Assert.That(cpu.VmPtrLd(ShadowAddress), Is.EqualTo(VmxResult.Succeed));
        cpu.ResetCounters();
        return (cpu, cpu.Vmcs);
    }

    private static Vmcs12 FromBytes(byte[] bytes)
    {
        var vmcs12 = default(Vmcs12);
        bytes.CopyTo(Vmcs12.AsBytes(ref vmcs12));
        return vmcs12;
    }

    private static bool Bit(ReadOnlySpan<byte> bitmap, uint encoding) => (bitmap[(int)(encoding >> 3)] & (1 << (int)(encoding & 7))) != 0;
}
