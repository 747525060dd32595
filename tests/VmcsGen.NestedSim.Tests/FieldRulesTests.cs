using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using NUnit.Framework;
using VmcsGen.Samples.NestedSim.Advisor;

namespace VmcsGen.NestedSim.Tests;

/// <summary>
/// <see cref="FieldRules"/> is compiled twice: into the generator, where the binder reports it as diagnostics, and into the
/// runtime, where the engine and the advisor decide with it. These tests hold the runtime's copy (what the advisor calls)
/// to what the generator reports, run in process through <see cref="ManifestCompiler"/>: every field of KVM's layout, in
/// every class, with and without <c>vmwrite-any</c>, and with <c>control-shadow</c>. They live here because this is the
/// test project that has both the runtime and an in-process generator.
/// </summary>
public sealed class FieldRulesTests
{
    private static readonly string[] ClassRuleIds = ["VMCS0110", "VMCS0111", "VMCS0113", "VMCS0115"];
    private static readonly string[] ControlShadowIds = ["VMCS0201", "VMCS0202"];
    private static readonly Regex DiagnosticLine = new(@"\((?<line>\d+),\d+\): \w+ (?<id>VMCS\d{4}):", RegexOptions.CultureInvariant);

    private static VmcsFieldDescriptor[] KvmFields => [.. Layouts.Kvm.Layout.Fields.ToArray().Where(f => !f.IsHigh).OrderBy(f => f.Encoding)];

    [Test]
    public void ClassRulesAreWhatTheGeneratorReports([Values] FieldClass @class, [Values] bool vmwriteAny)
    {
        var fields = KvmFields;
        var reported = Reported(vmwriteAny, fields.Select(f => ManifestText.Class(@class)).ToArray(), ClassRuleIds);
        Assert.Multiple(() =>
        {
            for (var i = 0; i < fields.Length; i++)
            {
                var expected = Ids(FieldRules.CheckClass(fields[i].Encoding, @class, vmwriteAny));
                Assert.That(reported[i], Is.EquivalentTo(expected), $"{fields[i].Name} as {ManifestText.Class(@class)}");
                Assert.That(FieldRules.IsAllowed(fields[i].Encoding, @class, vmwriteAny), Is.EqualTo(reported[i].Count == 0), fields[i].Name);

                // The advisor never proposes a class the generator would report.
                var choice = new FieldChoice(fields[i].Name, fields[i].Encoding, fields[i].Width, fields[i].Type, fields[i].Class, fields[i].ControlShadow,
                    null, null);
                if (Advisor.Allowed(choice, vmwriteAny).Contains(@class) && @class != fields[i].Class)
                {
                    Assert.That(reported[i], Is.Empty, $"the advisor may move {fields[i].Name} to {ManifestText.Class(@class)}");
                }
            }
        });
    }

    [Test]
    public void ControlShadowRulesAreWhatTheGeneratorReports()
    {
        var fields = KvmFields;
        var reported = Reported(vmwriteAny: true, fields.Select(_ => "no-sync control-shadow").ToArray(), ControlShadowIds);
        Assert.Multiple(() =>
        {
            for (var i = 0; i < fields.Length; i++)
            {
                var rule = FieldRules.CheckControlShadow(fields[i].Type, fields[i].Width);
                Assert.That(reported[i], Is.EquivalentTo(Ids(rule)), fields[i].Name);
            }
        });
        Assert.That(reported.Count(r => r.Count == 0), Is.GreaterThan(0), "some KVM control fields may be control-shadowed");
    }

    [Test]
    public void EachRuleNamesItsDiagnostic()
    {
        var rules = Enum.GetValues<FieldRules.Violations>().Where(v => v != FieldRules.Violations.None).ToList();
        Assert.That(rules.Select(FieldRules.DiagnosticId), Is.EquivalentTo(ClassRuleIds.Concat(ControlShadowIds)));
        Assert.That(() => FieldRules.DiagnosticId(FieldRules.Violations.None), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private static List<string> Ids(FieldRules.Violations broken) =>
        Enum.GetValues<FieldRules.Violations>().Where(v => v != FieldRules.Violations.None && (broken & v) != 0).Select(FieldRules.DiagnosticId).ToList();

    /// <summary>
    /// Compiles KVM's fields with the given class text per field and returns, per field, the diagnostics among
    /// <paramref name="ids"/> the generator reported on its line. The fields go in manifests of <see cref="Chunk"/>, so that
    /// no manifest reaches the generator's cap of 100 diagnostics per file; each manifest's last line repeats an encoding
    /// (VMCS0103), so the run stops after the generator: only its diagnostics are wanted, not a compiled layout.
    /// </summary>
    private static List<List<string>> Reported(bool vmwriteAny, string[] classes, string[] ids)
    {
        var fields = KvmFields;
        var reported = fields.Select(_ => new List<string>()).ToList();
        for (var start = 0; start < fields.Length; start += Chunk)
        {
            var text = new StringBuilder();
            text.AppendLine("layout    VmcsGen.Layouts.FieldRulesCheck");
            text.AppendLine("revision  0x1");
            if (vmwriteAny)
            {
                text.AppendLine("vmwrite-any");
            }

            var firstFieldLine = text.ToString().Split('\n').Length;
            var end = Math.Min(start + Chunk, fields.Length);
            for (var i = start; i < end; i++)
            {
                text.AppendLine($"{fields[i].Name} 0x{fields[i].Encoding:x4} {classes[i]}");
            }

            text.AppendLine($"FORCED_STOP 0x{fields[start].Encoding:x4} no-sync");
            var compiled = ManifestCompiler.Compile("rules.vmcs", text.ToString());
            Assert.That(compiled.Diagnostics.Any(d => d.Contains("VMCS0103", StringComparison.Ordinal)), Is.True, "the run stops at the generator");
            Assert.That(compiled.Diagnostics.Any(d => d.Contains("VMCS0014", StringComparison.Ordinal)), Is.False, "every diagnostic is shown");

            foreach (var match in compiled.Diagnostics.Select(d => DiagnosticLine.Match(d)).Where(m => m.Success))
            {
                var index = start + int.Parse(match.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture) - firstFieldLine;
                if (ids.Contains(match.Groups["id"].Value) && index >= start && index < end)
                {
                    reported[index].Add(match.Groups["id"].Value);
                }
            }
        }

        return reported;
    }

    private const int Chunk = 40;
}
