using System;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using NUnit.Framework;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Runtime.Tests;

/// <summary>The generated KVM layout against KVM's vmcs12 (tests/Reference/vmcs12-layout.tsv and vmcs-fields.tsv).</summary>
public sealed class KvmLayoutTests
{
    [Test]
    public void RegionSizeRevisionAndHeaderMatchKvm()
    {
        var notes = Reference.Read("vmcs12-layout.tsv");
        Assert.Multiple(() =>
        {
            Assert.That(Unsafe.SizeOf<Vmcs12>(), Is.EqualTo(4096), "VMCS12_SIZE");
            Assert.That(Vmcs12.Size, Is.EqualTo(4096));
            Assert.That(Vmcs12.Revision, Is.EqualTo(0x11e57ed0u), "VMCS12_REVISION");
            Assert.That(Vmcs12.HeaderSize, Is.EqualTo(40));
            Assert.That(Vmcs12Access.CompactTableLength, Is.EqualTo(3273), "nr_vmcs12_fields");
            Assert.That(notes.Single(r => r["field"] == "hdr")["offset"], Is.EqualTo("0"));
        });
    }

    [Test]
    public void EveryVmcs12MemberIsAtKvmsOffsetWithKvmsSize()
    {
        var members = Reference.Read("vmcs12-layout.tsv").Where(r => r["encoding"].Length > 0).ToList();
        Assert.That(members, Has.Count.EqualTo(VmcsFieldInfo.Count), "one vmcs12 member per manifest field");

        Assert.Multiple(() =>
        {
            foreach (var row in members)
            {
                var encoding = Reference.Hex(row["encoding"]);
                var offset = int.Parse(row["offset"], CultureInfo.InvariantCulture);
                var size = int.Parse(row["size_bytes"], CultureInfo.InvariantCulture);
                Assert.That(VmcsFieldInfo.TryGetField(encoding, out var field), Is.True, row["vmcs_field"]);
                Assert.That(field.Name, Is.EqualTo(row["vmcs_field"]));
                Assert.That(field.Offset, Is.EqualTo(offset), field.Name);
                Assert.That(VmcsEncoding.SizeInBytes(field.Width), Is.EqualTo(size), field.Name);
                Assert.That(BytesTouchedByWrite(encoding), Is.EqualTo((offset, size)), field.Name + ": the struct member really sits there");
            }
        });
    }

    [Test]
    public void EveryHighFormReadsAndWritesTheUpperHalfAtOffsetPlusFour()
    {
        var highs = Reference.Fields().Where(f => f.Row["high"] == "yes" && f.Offset is not null).ToList();
        Assert.That(highs, Has.Count.EqualTo(VmcsFieldInfo.All.ToArray().Count(f => f.Width == FieldWidth.Bits64)));

        Assert.Multiple(() =>
        {
            foreach (var (name, encoding, offset, _) in highs)
            {
                Assert.That(VmcsFieldInfo.TryGetField(encoding, out var field), Is.True, name);
                Assert.That((field.Name, field.IsHigh, field.Offset), Is.EqualTo((name, true, offset!.Value)));
                Assert.That(BytesTouchedByWrite(encoding), Is.EqualTo((offset.Value, 4)), name);
            }
        });
    }

    [Test]
    public void TryGetOffsetAgreesWithTheReferenceForAll32768Encodings()
    {
        var expected = Reference.KvmOffsets();
        var mismatches = 0;
        for (uint encoding = 0; encoding <= 0x7FFF; encoding++)
        {
            var want = expected.TryGetValue(encoding, out var o) ? o : (int?)null;
            var switchFound = Vmcs12Access.TryGetOffset(encoding, out var switchOffset);
            var compactFound = Vmcs12Access.TryGetOffsetCompact(encoding, out var compactOffset);
            var ok = want is null
                ? !switchFound && !compactFound
                : switchFound && compactFound && switchOffset == want && compactOffset == want;
            if (!ok && mismatches++ < 10)
            {
                TestContext.Out.WriteLine($"0x{encoding:X4}: reference {want?.ToString(CultureInfo.InvariantCulture) ?? "none"}, " +
                    $"switch {switchFound}/{switchOffset}, compact {compactFound}/{compactOffset}");
            }
        }

        Assert.That(mismatches, Is.Zero);
        Assert.That(expected, Has.Count.EqualTo(VmcsFieldInfo.Count + VmcsFieldInfo.All.ToArray().Count(f => f.Width == FieldWidth.Bits64)));
    }

    [Test]
    public void OffsetAndSizeAgreesWithTryGetOffsetAndTheBytesAWriteTouches()
    {
        var mismatches = 0;
        for (uint encoding = 0; encoding <= 0x7FFF; encoding++)
        {
            var want = Vmcs12Access.TryGetOffset(encoding, out _) ? BytesTouchedByWrite(encoding) : ((int, int)?)null;
            var packed = Vmcs12Access.OffsetAndSize(encoding);
            var got = packed == 0 ? ((int, int)?)null : ((int)(packed & 0xFFFF), (int)(packed >> 16));
            if (got != want && mismatches++ < 10)
            {
                TestContext.Out.WriteLine(
                    $"0x{encoding:X4}: TryGetOffset and Write touch {want?.ToString() ?? "none"}, OffsetAndSize {got?.ToString() ?? "none"}");
            }
        }

        Assert.That(mismatches, Is.Zero);
    }

    [TestCase(0x8000u)]
    [TestCase(0x1_681Eu)]
    [TestCase(0xFFFF_FFFFu)]
    [TestCase(0x8000_681Eu)]
    public void EncodingsAboveBit14AreNeverFound(uint encoding)
    {
        Assert.That(Vmcs12Access.TryGetOffset(encoding, out _), Is.False);
        Assert.That(Vmcs12Access.TryGetOffsetCompact(encoding, out _), Is.False);
        Assert.That(Vmcs12Access.OffsetAndSize(encoding), Is.Zero);
        var vmcs12 = Vmcs12.Create();
        Assert.That(Vmcs12Access.Read(ref vmcs12, encoding, out _), Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
    }

    [Test]
    public void ClassificationMatchesKvmsShadowAndRareLists()
    {
        var fields = VmcsFieldInfo.All.ToArray();
        var reference = Reference.Fields().Where(f => f.Offset is not null && f.Row["high"] != "yes").ToDictionary(f => f.Name);

        Assert.Multiple(() =>
        {
            foreach (var field in fields)
            {
                var row = reference[field.Name].Row;
                var expected = row["kvm_shadow"] switch
                {
                    "RW" => FieldClass.ShadowRw,
                    "RO" => FieldClass.ShadowRo,
                    _ => row["kvm_rare"] == "yes" ? FieldClass.RareSync : (FieldClass?)null,
                };
                if (expected is not null)
                {
                    Assert.That(field.Class, Is.EqualTo(expected), field.Name);
                }
                else
                {
                    Assert.That(field.Class, Is.AnyOf(FieldClass.Sync, FieldClass.NoSync), field.Name);
                }
            }

            // 24 RW and 12 RO entries in vmcs_shadow_fields.h, the RO count including GUEST_PHYSICAL_ADDRESS_HIGH.
            Assert.That(fields.Count(f => f.Class == FieldClass.ShadowRw), Is.EqualTo(24));
            var ro = fields.Where(f => f.Class == FieldClass.ShadowRo).ToList();
            Assert.That(ro.Count + ro.Count(f => f.Width == FieldWidth.Bits64), Is.EqualTo(12));
            Assert.That(fields.Count(f => f.Class == FieldClass.RareSync), Is.EqualTo(35));
            Assert.That(fields.Where(f => f.Feature is not null).Select(f => (f.Name, f.Feature)), Is.EquivalentTo(new[]
            {
                ("GUEST_INTR_STATUS", "apicv"), ("GUEST_PML_INDEX", "pml"), ("VMX_PREEMPTION_TIMER_VALUE", "preemption-timer"),
            }));
        });
    }

    [Test]
    public void ControlShadowsAreKvmsControlsShadowsThatVmcs12Has()
    {
        var inVmcs12 = Reference.KvmOffsets();
        var expected = Reference.Read("control-shadows.tsv")
            .Where(r => r["kind"] == "controls-shadow" && inVmcs12.ContainsKey(Reference.Hex(r["encoding"])))
            .Select(r => r["vmcs_field"]);

        Assert.That(VmcsFieldInfo.All.ToArray().Where(f => f.ControlShadow).Select(f => f.Name), Is.EquivalentTo(expected));
    }

    /// <summary>Writes all-ones through Vmcs12Access into a zeroed image and reports which bytes changed.</summary>
    private static (int Offset, int Size) BytesTouchedByWrite(uint encoding)
    {
        var vmcs12 = default(Vmcs12);
        Assert.That(Vmcs12Access.Write(ref vmcs12, encoding, ulong.MaxValue), Is.EqualTo(VmxResult.Succeed));
        var bytes = Vmcs12.AsBytes(ref vmcs12);
        var first = bytes.IndexOfAnyExcept((byte)0);
        var last = bytes.LastIndexOfAnyExcept((byte)0);
        return (first, last - first + 1);
    }
}
