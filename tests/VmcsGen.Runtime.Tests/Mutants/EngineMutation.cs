using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Runtime.Tests.Mutants;

/// <summary>
/// A bug planted as one edit of the shipped engine's source (runtime/VmcsGen.Runtime/Nested/NestedVmx*.cs): in the member
/// whose declaration contains <paramref name="Member"/>, the first <paramref name="Original"/> becomes
/// <paramref name="Replacement"/>. The shipped files never change; <see cref="MutantEngine"/> compiles the edited copy.
/// </summary>
/// <param name="Name">What the bug is, for messages.</param>
/// <param name="Member">Text that occurs once in all the engine's files: the start of the edited member's declaration.</param>
/// <param name="Original">The text replaced, the first occurrence after <paramref name="Member"/>, within that member.</param>
/// <param name="Replacement">What stands there instead.</param>
internal sealed record EngineMutation(string Name, string Member, string Original, string Replacement)
{
    private const string ExitSync = "Check(TLayout.SyncVmcs02ToVmcs12(ref _l0, _vmcs12, _features), \"sync vmcs02 to vmcs12\");";

    /// <summary>A trapped VMWRITE marks vmcs12 dirty without first syncing the stale rare set.</summary>
    public static EngineMutation SkipRareSyncBeforeDirty { get; } = new(
        nameof(SkipRareSyncBeforeDirty),
        "public VmxResult L1VmWrite(ulong encoding, ulong value)",
        "EnsureRareSynced();",
        "// planted: no rare sync before vmcs12 is dirtied");

    /// <summary>
    /// VMCLEAR of the current vmcs12 writes it back without copying the shadow VMCS into it first: the shadow is declared
    /// behind vmcs12 (which is when the release's flush has nothing to copy) just before the release.
    /// </summary>
    public static EngineMutation SkipShadowFlushOnVmclear { get; } = new(
        nameof(SkipShadowFlushOnVmclear),
        "public VmxResult L1VmClear(ulong address)",
        "Release();",
        "_needShadowSync = true; // planted: the release skips the shadow flush\n            Release();");

    /// <summary>
    /// The nested exit's save forgets one field, as in the KVM bugs of docs/KVM-REGRESSIONS.md: whatever the exit sync reads
    /// from vmcs02 into it, vmcs12 keeps its old value (a field the layout lacks: no change).
    /// </summary>
    public static EngineMutation ForgetOnExit(uint encoding) => new(
        $"ForgetOnExit(0x{encoding:X4})",
        "public void L2Exit(ReadOnlySpan<FieldWrite> hardware)",
        ExitSync,
        $"var forget = TLayout.Read(_vmcs12, 0x{encoding:X4}u, out var forgotten).IsSuccess; // planted\n"
        + $"        {ExitSync}\n"
        + $"        if (forget)\n        {{\n            TLayout.Write(_vmcs12, 0x{encoding:X4}u, forgotten);\n        }}");

    /// <summary>
    /// The sources (file name → text) with this edit made. Throws when the member is not found exactly once or the text is
    /// not inside it: the engine changed, and the mutation must follow it, never silently plant nothing.
    /// </summary>
    public IReadOnlyDictionary<string, string> Apply(IReadOnlyDictionary<string, string> sources)
    {
        var holders = sources.Where(s => s.Value.Contains(Member, StringComparison.Ordinal)).ToArray();
        if (holders.Length != 1 || holders[0].Value.IndexOf(Member, StringComparison.Ordinal) != holders[0].Value.LastIndexOf(Member, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"mutation {Name}: '{Member}' must occur once in the engine's sources ({holders.Length} files have it).");
        }

        var (file, text) = holders[0];
        var start = text.IndexOf(Member, StringComparison.Ordinal);
        var end = text.IndexOf("\n    }\n", start, StringComparison.Ordinal); // a member's closing brace, at class-member depth
        var at = text.IndexOf(Original, start, StringComparison.Ordinal);
        if (at < 0 || end < 0 || at > end)
        {
            throw new InvalidOperationException($"mutation {Name}: '{Original}' is not in the member '{Member}' of {file}.");
        }

        var mutated = sources.ToDictionary(s => s.Key, s => s.Value);
        mutated[file] = string.Concat(text.AsSpan(0, at), Replacement, text.AsSpan(at + Original.Length));
        return mutated;
    }
}
