using NUnit.Framework;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Tests;

/// <summary>Feature and group names map one-to-one onto C# names, so generated enums never collide.</summary>
public sealed class NameRuleTests
{
    [TestCase("apicv", true)]
    [TestCase("preemption-timer", true)]
    [TestCase("ept2", true)]
    [TestCase("a-b1", true)]
    [TestCase("a-1b", false)]
    [TestCase("a--b", false)]
    [TestCase("a-", false)]
    [TestCase("-a", false)]
    [TestCase("a_b", false)]
    [TestCase("Apic", false)]
    [TestCase("none", false)]
    [TestCase("all", false)]
    [TestCase("", false)]
    public void FeatureAndGroupNames(string name, bool valid) =>
        Assert.That(ManifestParser.IsFeatureOrGroupName(name), Is.EqualTo(valid));
}
