using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis.Text;
using NUnit.Framework;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;
using VmcsGen.Generator.Semantics;

namespace VmcsGen.Generator.Tests;

/// <summary>A manifest without offsets is laid out after the header: 64-bit, natural, 32-bit, 16-bit, each in manifest order.</summary>
public sealed class LayoutTests
{
    private static VmcsManifest Bind(string text)
    {
        var syntax = ManifestParser.Parse("t.vmcs", SourceText.From(text), CancellationToken.None);
        var result = ManifestBinder.Bind(syntax, CancellationToken.None);
        Assert.That(result.Diagnostics, Is.Empty, () =>
            string.Join("; ", result.Diagnostics.Select(d => d.Descriptor.Id + " " + string.Join(",", d.Arguments))));
        return result.Manifest!;
    }

    [Test]
    public void FieldsWithoutOffsetsAreLaidOutByWidthThenManifestOrder()
    {
        var manifest = Bind("""
            layout T.L
            revision 1
            header 12
            GUEST_CS_SELECTOR  0x0802
            GUEST_RIP          0x681e
            GUEST_CS_LIMIT     0x4802
            VMCS_LINK_POINTER  0x2800
            GUEST_RSP          0x681c
            IO_BITMAP_A        0x2000
            GUEST_ES_SELECTOR  0x0800
            GUEST_ES_LIMIT     0x4800
            """);
        var offsets = manifest.Fields.ToDictionary(f => f.Name, f => f.Offset);

        Assert.Multiple(() =>
        {
            Assert.That(manifest.ExplicitOffsets, Is.False);
            Assert.That(offsets["VMCS_LINK_POINTER"], Is.EqualTo(16), "the 12-byte header is rounded up to 8 for the first 64-bit field");
            Assert.That(offsets["IO_BITMAP_A"], Is.EqualTo(24));
            Assert.That(offsets["GUEST_RIP"], Is.EqualTo(32), "natural width after 64-bit, stored as 8 bytes");
            Assert.That(offsets["GUEST_RSP"], Is.EqualTo(40));
            Assert.That(offsets["GUEST_CS_LIMIT"], Is.EqualTo(48), "32-bit after natural width");
            Assert.That(offsets["GUEST_ES_LIMIT"], Is.EqualTo(52));
            Assert.That(offsets["GUEST_CS_SELECTOR"], Is.EqualTo(56), "16-bit last, in manifest order");
            Assert.That(offsets["GUEST_ES_SELECTOR"], Is.EqualTo(58));
        });
    }

    [Test]
    public void DefaultsAreKvmsRegionAndHeaderAndClassesFollowTheType()
    {
        var manifest = Bind("""
            layout T.L
            revision 1
            GUEST_RIP       0x681e
            VM_EXIT_REASON  0x4402
            HOST_RIP        0x6c16
            IO_BITMAP_A     0x2000
            """);
        var classes = manifest.Fields.ToDictionary(f => f.Name, f => f.Class);

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Size, Is.EqualTo(4096));
            Assert.That(manifest.HeaderSize, Is.EqualTo(40));
            Assert.That(manifest.Fields.First(f => f.Name == "IO_BITMAP_A").Offset, Is.EqualTo(40));
            Assert.That(classes["GUEST_RIP"], Is.EqualTo(VmcsGen.Generator.FieldClass.Sync));
            Assert.That(classes["VM_EXIT_REASON"], Is.EqualTo(VmcsGen.Generator.FieldClass.Sync));
            Assert.That(classes["HOST_RIP"], Is.EqualTo(VmcsGen.Generator.FieldClass.NoSync));
            Assert.That(classes["IO_BITMAP_A"], Is.EqualTo(VmcsGen.Generator.FieldClass.NoSync));
        });
    }

    [Test]
    public void FieldsAreOrderedByEncodingWhateverTheManifestOrder()
    {
        var manifest = Bind("layout T.L\nrevision 1\nGUEST_RIP 0x681e\nIO_BITMAP_A 0x2000\nGUEST_ES_SELECTOR 0x0800\n");

        Assert.That(manifest.Fields.Select(f => f.Encoding), Is.EqualTo(new uint[] { 0x0800, 0x2000, 0x681e }));
    }

    [Test]
    public void CrlfAndTabsAndCommentsParseLikeLf()
    {
        var lf = Bind("layout T.L\nrevision 0x10\nGUEST_RIP\t0x681e  shadow-rw # trailing comment\n");
        var crlf = Bind("# header\r\nlayout T.L\r\nrevision 16\r\n\r\nGUEST_RIP 0x681E\tshadow-rw\r\n");

        Assert.That(crlf with { FilePath = lf.FilePath }, Is.EqualTo(lf));
    }

    [TestCase("GUEST_ES_SELECTOR", "GuestEsSelector")]
    [TestCase("GUEST_IA32_PERF_GLOBAL_CTRL", "GuestIa32PerfGlobalCtrl")]
    [TestCase("EOI_EXIT_BITMAP0", "EoiExitBitmap0")]
    [TestCase("preemption-timer", "PreemptionTimer")]
    public void NamesBecomePascalCase(string name, string expected) =>
        Assert.That(ManifestBinder.ToPascalCase(name), Is.EqualTo(expected));
}
