using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using VmcsGen.Tracing;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The one line reader of the text formats (traces, workloads, cost files, measurements, manifest text): comments,
/// words with their columns, line numbers, and errors spelled <c>file(line,column): error: …</c>.
/// </summary>
public sealed class LineReaderTests
{
    [Test]
    public void LinesKeepTheirNumbersAndWordsTheirColumnsWithoutComments()
    {
        var reader = new LineReader("# header\r\nexit CPUID\tweight 3   # why\n\n   \n  hw  VM_EXIT_REASON 10\n", "w.workload");

        var lines = reader.Lines().ToList();

        Assert.That(lines.Select(l => l.Number), Is.EqualTo(new[] { 2, 5 }), "blank and comment-only lines are skipped, numbers kept");
        Assert.That(lines[0].Tokens, Is.EqualTo(new[] { new LineToken("exit", 1), new LineToken("CPUID", 6), new LineToken("weight", 12), new("3", 19) }));
        Assert.That((lines[0].Text, lines[0].Content), Is.EqualTo(("exit CPUID\tweight 3   # why", "exit CPUID\tweight 3   ")));
        Assert.That((lines[0].EndColumn, lines[0].Rest), Is.EqualTo((20, "CPUID\tweight 3")));
        Assert.That(lines[1].Head, Is.EqualTo(new LineToken("hw", 3)));
        Assert.That(lines[1].Tokens[2].EndColumn, Is.EqualTo(24));
    }

    [TestCase("a\nb\n", 2, 3)]
    [TestCase("a\nb", 2, 2)]
    [TestCase("a\r\nb\r\n", 2, 3)]
    [TestCase("", 0, 1)]
    public void TheEndOfTheTextIsOnTheLastLineOrTheOneAfterAFinalNewline(string text, int lineCount, int endLine)
    {
        var reader = new LineReader(text, "t");
        Assert.That((reader.LineCount, reader.EndLine), Is.EqualTo((lineCount, endLine)));
    }

    [Test]
    public void WithoutACommentCharacterAHashIsAWord()
    {
        var line = new LineReader("cpuid 1024 # not a comment here\n", "vmexit.out", comment: null).Lines().Single();
        Assert.That(line.Tokens.Select(t => t.Text), Is.EqualTo(new[] { "cpuid", "1024", "#", "not", "a", "comment", "here" }));
    }

    [Test]
    public void AnErrorNamesFileLineAndColumnAsCompilersDo()
    {
        var line = new LineReader("costs\n  vmread  eight\n", "my.costs").Lines().Last();

        var error = line.Error(line.Tokens[1].Column, "expected a number of cycles, got 'eight'");

        Assert.That(error, Is.InstanceOf<FormatException>());
        Assert.That((error.FilePath, error.Line, error.Column, error.Reason), Is.EqualTo(("my.costs", 2, 11, "expected a number of cycles, got 'eight'")));
        Assert.That(error.Message, Is.EqualTo("my.costs(2,11): error: expected a number of cycles, got 'eight'"));
        Assert.That(line.Describe(1, "x"), Is.EqualTo("my.costs(2,1): error: x"));
        Assert.That(new LineReader("a\n", "f").Error(2, 1, "the block has no 'end'").Message, Is.EqualTo("f(2,1): error: the block has no 'end'"));
    }

    [TestCase("0x1F", true, 0x1FUL)]
    [TestCase("0X1f", true, 0x1FUL)]
    [TestCase("31", true, 31UL)]
    [TestCase("18446744073709551615", true, ulong.MaxValue)]
    [TestCase("18446744073709551616", false, 0UL)]
    [TestCase("-1", false, 0UL)]
    [TestCase("+2", false, 0UL)]
    [TestCase("0x", false, 0UL)]
    [TestCase("1f", false, 0UL)]
    public void NumbersAreHexAfter0xElseDecimal(string text, bool ok, ulong value)
    {
        Assert.That(LineToken.TryParseNumber(text, out var parsed), Is.EqualTo(ok));
        Assert.That(parsed, Is.EqualTo(value));
    }

    [Test]
    public void ARunawayWordIsShortenedInMessages()
    {
        Assert.That(LineReader.Shorten(new string('x', 60)), Has.Length.EqualTo(60));
        Assert.That(LineReader.Shorten(new string('x', 100_000)), Is.EqualTo(new string('x', 57) + "..."));
    }

    [Test]
    public void AFileThatCannotBeReadIsTheCallersOneLineMessage()
    {
        var missing = Path.Combine(Path.GetTempPath(), "vmcsgen-no-such-" + Guid.NewGuid().ToString("N"), "x.costs");
        Assert.That(() => LineReader.ReadFile(missing, reason => $"--costs {missing}: cannot read the file ({reason})"),
            Throws.ArgumentException.With.Message.StartWith($"--costs {missing}: cannot read the file (").And.Message.Contains("x.costs"));
    }
}
