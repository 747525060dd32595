using System;
using System.Globalization;
using System.Linq;
using NUnit.Framework;

namespace VmcsGen.Runtime.Tests;

public sealed class VmxBasicsTests
{
    [Test]
    public void ErrorNumbersAreTheSdmsAndReservedOnesAreAbsent()
    {
        var rows = Reference.Read("vmx-errors.tsv");
        Assert.That(rows, Has.Count.EqualTo(28));
        Assert.Multiple(() =>
        {
            foreach (var row in rows)
            {
                var number = uint.Parse(row["number"], CultureInfo.InvariantCulture);
                var defined = Enum.IsDefined((VmxInstructionError)number);
                Assert.That(defined, Is.EqualTo(row["kvm_name"].Length > 0), $"error {number} ({row["meaning"]})");
            }
        });
    }

    [Test]
    public void ResultsCompareByOutcomeAndError()
    {
        Assert.That(VmxResult.Succeed.IsSuccess, Is.True);
        Assert.That(VmxResult.FailInvalid, Is.Not.EqualTo(VmxResult.Succeed));
        Assert.That(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent),
            Is.EqualTo(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent)));
        Assert.That(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent),
            Is.Not.EqualTo(VmxResult.FailValid(VmxInstructionError.VmwriteReadOnlyVmcsComponent)));
        Assert.That(VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent).ToString(), Is.EqualTo("VMfailValid(12: UnsupportedVmcsComponent)"));
    }

    [Test]
    public void EncodingDecodingAgreesWithEveryReferenceRow()
    {
        Assert.Multiple(() =>
        {
            foreach (var (name, encoding, _, row) in Reference.Fields())
            {
                var width = row["width"] switch { "16" => FieldWidth.Bits16, "32" => FieldWidth.Bits32, "64" => FieldWidth.Bits64, _ => FieldWidth.Natural };
                var type = row["type"] switch { "control" => FieldType.Control, "exit-info" => FieldType.ExitInformation, "guest" => FieldType.GuestState,
                    _ => FieldType.HostState };
                Assert.That(VmcsEncoding.Width(encoding), Is.EqualTo(width), name);
                Assert.That(VmcsEncoding.Type(encoding), Is.EqualTo(type), name);
                Assert.That(VmcsEncoding.IsHighAccess(encoding), Is.EqualTo(row["high"] == "yes"), name);
                Assert.That(VmcsEncoding.IsWellFormed(encoding), Is.True, name);
            }
        });
    }

    [TestCase(0x2033u, 0x0CC8)]
    [TestCase(0x0000u, 0)]
    [TestCase(0x681Eu, 0x079A)]
    public void CompactIndexIsRol16By6(uint encoding, int index) =>
        Assert.That(VmcsEncoding.CompactIndex(encoding), Is.EqualTo(index));
}
