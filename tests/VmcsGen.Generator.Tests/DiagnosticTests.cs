using System.Globalization;
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using CsCheck;
using Microsoft.CodeAnalysis;
using NUnit.Framework;
using VmcsGen.Generator.Diagnostics;

namespace VmcsGen.Generator.Tests;

/// <summary>Every diagnostic ID is triggered here, with its severity and the exact span of the offending token.</summary>
public sealed class DiagnosticTests
{
    private const string Head = "layout T.L\nrevision 1\n";

    public sealed record Case(string Id, DiagnosticSeverity Severity, string Span, Func<GeneratorRun> Run)
    {
        public override string ToString() => Id;
    }

    private static Case Manifest(string id, DiagnosticSeverity severity, string span, string text) =>
        new(id, severity, span, () => TestHelpers.Run(("m.vmcs", text)));

    private static Case Error(string id, string span, string text) => Manifest(id, DiagnosticSeverity.Error, span, text);

    private static Case Warning(string id, string span, string text) => Manifest(id, DiagnosticSeverity.Warning, span, text);

    public static IEnumerable<Case> Cases()
    {
        yield return Error("VMCS0001", "(3,1)-(3,5)", Head + "sise 4096\n");
        yield return Error("VMCS0002", "(3,18)-(3,27)", Head + "GUEST_RIP 0x681e shadow-rx\n");
        yield return Error("VMCS0003", "(3,11)-(3,18)", Head + "GUEST_RIP 0x68g1e\n");
        yield return Error("VMCS0004", "(3,1)-(3,9)", Head + "revision 2\n");
        yield return Error("VMCS0005", "(1,1)-(1,1)", "layout T.L\nGUEST_RIP 0x681e\n");
        yield return Error("VMCS0006", "(4,1)-(4,5)", Head + "GUEST_RIP 0x681e\nsize 4096\n");
        yield return Error("VMCS0007", "(3,1)-(3,5)", Head + "9FOO 0x681e\n");
        yield return Error("VMCS0008", "(3,10)-(3,10)", Head + "GUEST_RIP\n");
        yield return Error("VMCS0009", "(1,12)-(1,17)", "layout T.L extra\nrevision 1\n");
        yield return Error("VMCS0010", "(1,8)-(1,15)", "layout T.class\nrevision 1\n");
        yield return Error("VMCS0011", "(2,10)-(2,20)", "layout T.L\nrevision 0x80000000\n");
        yield return Error("VMCS0012", "(3,23)-(3,30)", Head + "GUEST_RIP 0x681e sync no-sync\n");
        yield return Error("VMCS0013", "(3,27)-(3,31)", Head + "GUEST_RIP 0x681e requires=Apic\n");
        yield return Error("VMCS0014", "(103,1)-(103,3)", Head + Lines(150, _ => "!x"));
        yield return Error("VMCS0101", "(3,11)-(3,17)", Head + "GUEST_RIP 0x781e\n");
        yield return Error("VMCS0102", "(3,18)-(3,24)", Head + "IO_BITMAP_A_HIGH 0x2001\n");
        yield return Error("VMCS0103", "(4,12)-(4,18)", Head + "GUEST_RIP 0x681e\nGUEST_RIP2 0x681e\n");
        yield return Error("VMCS0104", "(4,1)-(4,10)", Head + "GUEST_RIP 0x681e\nGUEST_RIP 0x681c\n");
        yield return Error("VMCS0105", "(4,1)-(4,10)", Head + "GUEST_RIP 0x681e @40\nGUEST_RSP 0x681c\n");
        yield return Error("VMCS0106", "(3,18)-(3,21)", Head + "GUEST_RIP 0x681e @44\n");
        yield return Error("VMCS0107", "(4,18)-(4,21)", Head + "GUEST_RIP 0x681e @40\nGUEST_RSP 0x681c @40\n");
        yield return Error("VMCS0108", "(3,18)-(3,20)", Head + "GUEST_RIP 0x681e @8\n");
        yield return Error("VMCS0109", "(3,18)-(3,23)", Head + "GUEST_RIP 0x681e @4096\n");
        yield return Error("VMCS0110", "(3,17)-(3,26)", Head + "HOST_RIP 0x6c16 rare-sync\n");
        yield return Error("VMCS0111", "(3,23)-(3,32)", Head + "VM_EXIT_REASON 0x4402 shadow-rw\n");
        yield return Error("VMCS0112", "(3,28)-(3,35)", Head + "GUEST_RIP 0x681e shadow-rw group=a\n");
        yield return Error("VMCS0113", "(3,29)-(3,38)", Head + "VM_INSTRUCTION_ERROR 0x4400 shadow-ro\n");
        yield return Error("VMCS0114", "(35,12)-(35,21)", Head + Lines(33, k => $"F{k} 0x{0x6800 + (2 * k):x4} group=g{k}"));
        yield return Warning("VMCS0115", "(3,26)-(3,35)", Head + "GUEST_ES_AR_BYTES 0x4814 shadow-rw\n");
        yield return Warning("VMCS0126", "(3,24)-(3,31)", Head + "GUEST_IA32_EFER 0x2806 no-sync\n");
        yield return Warning("VMCS0116", "(3,27)-(3,32)", Head + "GUEST_RIP 0x681e requires=apicv\n");
        yield return Warning("VMCS0117", "(67,12)-(67,21)", Head + Lines(65, k => $"F{k} 0x{0x6800 + (2 * k):x4} shadow-ro"));
        var features = "features " + string.Join(" ", Enumerable.Range(0, 65).Select(k => $"f{k}"));
        var lastFeature = features.LastIndexOf("f64", StringComparison.Ordinal) + 1;
        yield return Error("VMCS0118", $"(3,{lastFeature})-(3,{lastFeature + 3})",
            Head + features + "\n" + Lines(65, k => $"F{k} 0x{0x6800 + (2 * k):x4} requires=f{k}"));
        yield return Error("VMCS0119", "(4,27)-(4,30)", Head + "features apicv\nGUEST_RIP 0x681e requires=pml\nGUEST_RSP 0x681c requires=apicv\n");
        yield return Warning("VMCS0120", "(3,16)-(3,19)", Head + "features apicv pml\nGUEST_RIP 0x681e requires=apicv\n");
        yield return Error("VMCS0121", "(4,1)-(4,11)", Head + "GUEST_RIP 0x681e\nGUEST__RIP 0x681c\n");
        yield return Error("VMCS0122", "(3,1)-(3,5)", Head + "SIZE 0x681e\n");
        yield return Error("VMCS0123", "(3,1)-(3,202)", Head + new string('A', 201) + " 0x681e\n");
        yield return Error("VMCS0124", "(3,19)-(3,23)", Head + "VMCS_LINK_POINTER 2800\n");
        yield return Error("VMCS0125", "(4,1)-(4,13)", Head + "MY_ADDR 0x2000\nMY_ADDR_HIGH 0x2004\n");
        yield return Error("VMCS0201", "(3,18)-(3,32)", Head + "GUEST_RIP 0x681e control-shadow\n");
        yield return Error("VMCS0202", "(3,29)-(3,43)", Head + "VIRTUAL_PROCESSOR_ID 0x0000 control-shadow\n");
        yield return new Case("VMCS0901", DiagnosticSeverity.Error, "(1,8)-(1,11)", () => TestHelpers.Run(("a.vmcs", Head + "GUEST_RIP 0x681e\n"),
            ("b.vmcs", Head + "GUEST_RSP 0x681c\n")));
        yield return new Case("VMCS0903", DiagnosticSeverity.Error, "(1,8)-(1,11)", () => TestHelpers.Run(("a.vmcs", Head + "GUEST_RIP 0x681e\n"),
            ("b.vmcs", "layout T.l\nrevision 1\nGUEST_RSP 0x681c\n")));
        yield return new Case("VMCS0904", DiagnosticSeverity.Error, "(1,8)-(1,27)", () => TestHelpers.Run(TestHelpers.CreateCompilation(), false,
            ("m.vmcs", "layout VmcsGen.Layouts.Kvm\nrevision 1\nGUEST_RIP 0x681e\n")));
        yield return new Case("VMCS0902", DiagnosticSeverity.Error, "(1,8)-(1,11)", () => TestHelpers.Run(TestHelpers.CreateCompilation(withRuntime: false),
            ("m.vmcs", Head + "GUEST_RIP 0x681e\n")));
    }

    [TestCaseSource(nameof(Cases))]
    public void DiagnosticIsReportedAtTheOffendingToken(Case @case)
    {
        var run = @case.Run();
        var matching = run.Diagnostics.Where(d => d.Id == @case.Id).ToList();

        Assert.That(matching, Has.Count.EqualTo(1), () => "diagnostics: " + string.Join("; ", run.Diagnostics));
        var diagnostic = matching[0];
        Assert.Multiple(() =>
        {
            Assert.That(diagnostic.Severity, Is.EqualTo(@case.Severity));
            Assert.That(TestHelpers.SpanText(diagnostic), Is.EqualTo(@case.Span), diagnostic.ToString());
            Assert.That(diagnostic.Descriptor.HelpLinkUri, Is.EqualTo(DiagnosticDescriptors.HelpBaseUri + @case.Id + ".md"));
            Assert.That(diagnostic.Location.GetLineSpan().Path, Does.EndWith(".vmcs"));
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void AnErrorGeneratesNoCodeForItsManifest(Case @case)
    {
        var run = @case.Run();
        if (@case.Severity != DiagnosticSeverity.Error)
        {
            Assert.That(run.Sources, Is.Not.Empty, "a warning alone keeps the generated code");
            return;
        }

        if (@case.Id is "VMCS0901" or "VMCS0903")
        {
            Assert.That(run.Sources.Select(s => s.HintName).Distinct().Count(), Is.EqualTo(Emit.SourceEmitter.PartCount),
                "only the first manifest by path generates code");
            return;
        }

        Assert.That(run.Sources, Is.Empty);
    }

    [Test]
    [Category("DocSync")] // the docs page and the release entry half: every ID a user can see is documented
    public void EveryDescriptorHasATestADocsPageAndAReleaseEntry()
    {
        var ids = typeof(DiagnosticDescriptors)
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToList();
        var tested = Cases().Select(c => c.Id).ToHashSet();
        var root = RepositoryRoot();
        var releases = File.ReadAllText(Path.Combine(root, "generator", "VmcsGen.Generator", "AnalyzerReleases.Unshipped.md"));

        Assert.That(ids.Select(d => d.Id), Is.Unique);
        Assert.Multiple(() =>
        {
            foreach (var descriptor in ids)
            {
                Assert.That(tested, Does.Contain(descriptor.Id), $"{descriptor.Id} has no test case");
                Assert.That(File.Exists(Path.Combine(root, "docs", "diagnostics", descriptor.Id + ".md")), $"{descriptor.Id} has no docs/diagnostics page");
                Assert.That(releases, Does.Contain(descriptor.Id + " | VmcsGen | " + descriptor.DefaultSeverity),
                    $"{descriptor.Id} is not in AnalyzerReleases.Unshipped.md");
                Assert.That(descriptor.Category, Is.EqualTo("VmcsGen"));
            }
        });
    }

    // Field names that became C# members the generated code already has: before VMCS0122 each one was a C# error
    // (CS0102, CS0542, CS0108) in the generated file instead of a manifest diagnostic.
    [TestCase("CREATE 0x681e\n", "Create")]
    [TestCase("AS_BYTES 0x681e\n", "AsBytes")]
    [TestCase("OFFSETS 0x681e\n", "Offsets")]
    [TestCase("VMCS12 0x681e\n", "Vmcs12")]
    [TestCase("TO_STRING 0x681e\n", "ToString")]
    [TestCase("COUNT 0x4002 control-shadow\n", "Count")]
    [TestCase("WRITES 0x4002 control-shadow\n", "Writes")]
    [TestCase("X 0x4002 control-shadow\nSET_BITS_X 0x4000 control-shadow\n", "SetBitsX")]
    public void AFieldNamedLikeAGeneratedMemberIsADiagnosticNotBrokenCSharp(string fields, string cSharpName)
    {
        var run = TestHelpers.Run(("m.vmcs", Head + "vmwrite-any\n" + fields));
        var diagnostic = run.Diagnostics.Single(d => d.Id == "VMCS0122");
        Assert.That(diagnostic.GetMessage(CultureInfo.InvariantCulture), Does.Contain(cSharpName));
        Assert.That(run.Sources, Is.Empty);
        Assert.That(TestHelpers.OutputProblems(run.Output), Is.Empty);
    }

    [TestCase("guest_rsp 0x681c\n", "Unexpected 'guest_rsp': a field NAME is upper case ([A-Z][A-Z0-9_]*): write GUEST_RSP")]
    [TestCase("GUEST_RIP @112\n", "Unexpected '@112': field GUEST_RIP needs its ENCODING (a number such as 0x681e) before the @OFFSET")]
    [TestCase("GUEST\u00A0RIP 0x681e\n", "Unexpected 'GUESTU+00A0RIP': a field NAME is [A-Z][A-Z0-9_]*")]
    public void MessagesSayWhatIsWrong(string line, string message)
    {
        var run = TestHelpers.Run(("m.vmcs", Head + line));
        Assert.That(run.Diagnostics.Select(d => d.GetMessage(CultureInfo.InvariantCulture)), Does.Contain(message));
    }

    [Test]
    public void HugeTokensAndBinaryInputAreNeitherEchoedInFullNorReportedWithoutEnd()
    {
        var huge = TestHelpers.Run(("m.vmcs", Head + new string('Z', 100_000) + " 0x681e\n"));
        Assert.That(huge.Diagnostics.Max(d => d.GetMessage(CultureInfo.InvariantCulture).Length), Is.LessThan(300));
        var random = new Random(3);
        var bytes = new char[20_000];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (char)random.Next(0, 256);
        }

        var binary = TestHelpers.Run(("blob.vmcs", new string(bytes)));
        Assert.That(binary.Diagnostics.Length, Is.LessThanOrEqualTo(VmcsGenerator.MaxDiagnosticsPerFile + 5));
        Assert.That(binary.Diagnostics.Select(d => d.GetMessage(CultureInfo.InvariantCulture)).All(m => m.Length < 400));
        Assert.That(binary.Sources, Is.Empty);
    }

    [Test]
    public void GeneratedNumbersIgnoreTheBuildMachinesCulture()
    {
        // Before the invariant handler, $"..." bound to WriteLine(string) and formatted with the current culture.
        var culture = (CultureInfo)CultureInfo.GetCultureInfo("en-US").Clone();
        culture.NumberFormat.NegativeSign = "~";
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = culture;
            var writer = new Emit.SourceWriter();
            var value = -1;
            writer.WriteLine($"const int X = {value};");
            Assert.That(writer.ToString(), Is.EqualTo("const int X = -1;\n"));
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Test]
    public void ADecimalEncodingOfAKnownFieldSaysSo()
    {
        var run = TestHelpers.Run(("m.vmcs", Head + "VMCS_LINK_POINTER 2800\n"));
        Assert.That(run.Diagnostics.Single().GetMessage(CultureInfo.InvariantCulture),
            Is.EqualTo("Field VMCS_LINK_POINTER has encoding 0x0AF0, but VMCS_LINK_POINTER is the VMCS field 0x2800 (the number 2800 is decimal: " +
                "write 0x2800)"));
    }

    [Test]
    public void ACopyOfKvmVmcsNextToTheRuntimeIsOneDiagnosticNotSeventyEightWarnings()
    {
        var run = TestHelpers.Run(TestHelpers.CreateCompilation(), false, ("kvm.vmcs", TestHelpers.ReadShippedManifest("kvm.vmcs")));
        Assert.That(run.Diagnostics.Select(d => d.Id), Is.EqualTo(new[] { "VMCS0904" }));
        Assert.That(run.Diagnostics[0].GetMessage(CultureInfo.InvariantCulture), Does.Contain("VmcsGen.Runtime"));
        Assert.That(run.Output.GetDiagnostics().Where(d => d.Id == "CS0436"), Is.Empty);
    }

    [Test]
    [Category("DocSync")] // the help links, the repository address and the packed docs agree
    public void HelpLinksPointIntoThePackagesOwnRepositoryAndEveryPageShipsInThePackage()
    {
        // The package's RepositoryUrl (Directory.Build.props) and the diagnostics' help links are one address, and the
        // runtime project packs docs/**/*.md, so a help link names a page that exists in the package.
        var root = RepositoryRoot();
        var props = File.ReadAllText(Path.Combine(root, "Directory.Build.props"));
        var url = System.Text.RegularExpressions.Regex.Match(props, "<VmcsGenRepositoryUrl>(.*?)</VmcsGenRepositoryUrl>").Groups[1].Value;
        Assert.That(DiagnosticDescriptors.HelpBaseUri, Is.EqualTo(url + "/blob/main/docs/diagnostics/"));
        Assert.That(File.ReadAllText(Path.Combine(root, "runtime", "VmcsGen.Runtime", "VmcsGen.Runtime.csproj")), Does.Contain(@"docs\**\*.md"));
    }

    [Test]
    public void ABrokenManifestReportsEveryMistakeOnItsLine()
    {
        const string text = """
            # every line below the header has one mistake
            layout VmcsGen.Layouts.Broken
            revision 0x1234
            size 4096
            GUEST_RIP                0x681e  @544  shadow-rw
            GUEST_RSP                0x681c  @548  shadow-rw
            GUEST_CR0                0x6800  @4096 sync
            IO_BITMAP_A_HIGH         0x2001  @44
            HOST_RIP                 0x6c16  @672  rare-sync
            VM_EXIT_REASON           0x4402  @812  shadow-rw
            GUEST_ES_SELECTOR        0x0800  @964  control-shadow
            GUEST_CS_SELECTOR        0x0802  @966  rare-sync   rare-sync
            """;
        var run = TestHelpers.Run(("broken.vmcs", text));

        Snapshot.Verify(run, text);
        Assert.That(run.Sources, Is.Empty);
    }

    [Test]
    public void ArbitraryTextNeverThrowsAndErrorsNeverGenerateCode()
    {
        var kvm = TestHelpers.ReadShippedManifest("kvm.vmcs");
        var alphabet = " \t\n#@=_-0123456789abcdefxABCDEFGHIJKLMNOPQRSTUVWXYZshadow-rosyncrequires=group=layoutrevision";
        var mutation = Gen.Select(Gen.Int[0, kvm.Length - 1], Gen.Int[0, 8], Gen.String[Gen.Char[alphabet], 0, 6]);
        mutation.Array[1, 4].Sample(edits =>
        {
            var text = new StringBuilder(kvm);
            foreach (var (position, delete, insert) in edits)
            {
                var at = Math.Min(position, text.Length);
                text.Remove(at, Math.Min(delete, text.Length - at)).Insert(at, insert);
            }

            var run = TestHelpers.Run(("fuzz.vmcs", text.ToString())); // asserts that the generator did not throw
            var hasError = run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
            return hasError ? run.Sources.IsEmpty : run.Sources.Length == Emit.SourceEmitter.PartCount;
        }, iter: 300);
    }

    internal static string RepositoryRoot([CallerFilePath] string path = "")
    {
        var directory = Path.GetDirectoryName(path);
        while (directory is not null && !File.Exists(Path.Combine(directory, "VmcsGen.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory ?? throw new InvalidOperationException("VmcsGen.sln not found above " + path);
    }

    private static string Lines(int count, Func<int, string> line) =>
        string.Concat(Enumerable.Range(0, count).Select(k => line(k) + "\n"));
}
