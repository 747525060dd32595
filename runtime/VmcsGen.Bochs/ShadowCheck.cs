using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;
using static Iced.Intel.AssemblerRegisters;

namespace VmcsGen.Bochs;

/// <summary>One L1 access of <see cref="ShadowCheck"/>: what the manifest's class says and what Bochs did.</summary>
/// <param name="Field">The access form (a _HIGH form is its own field).</param>
/// <param name="Write">VMWRITE (else VMREAD).</param>
/// <param name="ManifestShadows">Whether the manifest's class (and the layout's features on this CPU) says the access hits the shadow VMCS.</param>
/// <param name="OnCpu">Whether Bochs has the field.</param>
/// <param name="Bochs">How L1's run ended: exit 10 (the CPUID after an access that did not exit), 23, 25…</param>
/// <param name="GuestRflags">L1's RFLAGS after the access (CF: VMfailInvalid, ZF: VMfailValid).</param>
/// <param name="Mismatch">Why the access is not as the manifest says, or null.</param>
/// <param name="Expected">The shadow VMCS's value after the access as the generated code and the manifest say (a read's value, or the field after a
/// write).</param>
/// <param name="Actual">What Bochs gave: the value L1 read (RSP after VMREAD), or the shadow field read back after the write.</param>
public sealed record ShadowAccess(
    VmcsFieldDescriptor Field, bool Write, bool ManifestShadows, bool OnCpu, InstructionOutcome Bochs, ulong GuestRflags, ulong Expected, ulong Actual,
        string? Mismatch)
{
    public bool AsManifest => Mismatch is null;

    /// <summary>What happened, in words: "shadow 0x…", "exit 23"…</summary>
    public string Observed => VmcsImage.IsExit(Bochs, 10)
        ? (GuestRflags & 0x41) != 0 ? ((GuestRflags & 1) != 0 ? "VMfailInvalid" : "VMfailValid") : $"shadow 0x{Actual:X}"
        : VmcsImage.Describe(Bochs);
}

/// <summary>The per-field result of <see cref="ShadowCheck"/>: a field is as the manifest says when its read and its write are.</summary>
public sealed record ShadowReport(string Manifest, ulong Features, int ShadowWrites, IReadOnlyList<ShadowAccess> Accesses, int Boots, TimeSpan Elapsed)
{
    /// <summary>Fields (access forms: a 64-bit field's _HIGH form counts) L1 read and wrote.</summary>
    public int Fields => Accesses.Select(a => a.Field.Encoding).Distinct().Count();

    public int AsManifest => Accesses.GroupBy(a => a.Field.Encoding).Count(g => g.All(a => a.AsManifest));

    public IReadOnlyList<ShadowAccess> Mismatches => Accesses.Where(a => !a.AsManifest).ToList();
}

/// <summary>
/// Issue 21 item 4a, VMCS shadowing as the manifest says, executed on Bochs. L0 (the runner, 64-bit) fills a vmcs12 image
/// with a distinct value per field, lets the layout's generated <c>CopyVmcs12ToShadow</c> copy it into a shadow VMCS (its
/// VMWRITEs are recorded and replayed on Bochs in the same order), installs the layout's generated VMREAD/VMWRITE bitmaps
/// (<c>BuildBitmaps</c>) and the shadow as vmcs01's link pointer, and launches an L1 guest in VMX non-root operation with
/// "VMCS shadowing". For every field of the manifest L1 executes one VMREAD (into RSP, then CPUID: the VM exit saves RSP and
/// RFLAGS) and one VMWRITE. A shadow-rw field must hit the shadow both ways, a shadow-ro field on read and exit with reason
/// 25 on write, every other field exit with 23/25; a hit must give the value the generated copy put there (a write: the
/// shadow field read back by L0 holds L1's value).
/// </summary>
public static class ShadowCheck
{
    private const ulong Sentinel = 0x5E5E_5E5E_0000_5E5E;
    private const int FieldsPerProgram = 48;

    /// <summary>The value vmcs12 holds for a field before the copy (distinct per encoding, masked to the width; access rights within 0x1F0FF).</summary>
    public static ulong Pattern(uint encoding, bool write = false)
    {
        var value = (0x0123_4567_89AB_CDEFul ^ (encoding * 0x9E37_79B9_7F4A_7C15ul)) + (write ? 0x1111_1111_1111_1111ul : 0);
        if (encoding is >= 0x4814 and <= 0x4822 && (encoding & 1) == 0)
        {
            return write ? 0xC093ul : 0xA09Bul; // segment access rights: bits the CPU keeps (SDM 24.4.1)
        }

        return value & Mask(VmcsEncoding.Width(encoding));
    }

    private static ulong Mask(FieldWidth width) => width switch
    {
        FieldWidth.Bits16 => 0xFFFF,
        FieldWidth.Bits32 => 0xFFFF_FFFF,
        _ => ulong.MaxValue,
    };

    /// <summary>
    /// Runs the check for a generated layout on Bochs as <paramref name="profile"/> (read from it with <see cref="BochsRunner.ReadProfile"/>).
    /// </summary>
    public static ShadowReport Run<TLayout, TControls>(BochsRunner runner, VmxProfile profile, IProgress<int>? progress = null)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct => Run<TLayout, TControls>(runner, profile, progress, tamper: null);

    /// <summary>
    /// As <see cref="Run{TLayout, TControls}(BochsRunner, VmxProfile, IProgress{int})"/>; <paramref name="tamper"/> may change the generated bitmaps before
    /// they are installed (tests: the check must notice).
    /// </summary>
    internal static ShadowReport Run<TLayout, TControls>(BochsRunner runner, VmxProfile profile, IProgress<int>? progress, Action<byte[], byte[]>? tamper)
        where TLayout : IVmcsLayout<TControls>
        where TControls : struct
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(profile);
        var fields = TLayout.Fields.ToArray();

        // As KVM's init_vmcs_shadow_fields: a feature whose fields this CPU lacks is off, so its fields are intercepted.
        var features = TLayout.AllFeatures;
        foreach (var f in fields.Where(f => f.FeatureMask != 0 && !profile.Catalog.Supports(f.Encoding)))
        {
            features &= ~f.FeatureMask;
        }

        var vmread = new byte[4096];
        var vmwrite = new byte[4096];
        TLayout.BuildBitmaps(features, vmread, vmwrite);
        tamper?.Invoke(vmread, vmwrite);

        // vmcs12 with a distinct value in every field, then the generated copy loop into a recording shadow.
        var vmcs12 = new byte[TLayout.Size];
        foreach (var f in fields.Where(f => !f.IsHigh))
        {
            BitConverter.TryWriteBytes(vmcs12.AsSpan(f.Offset, 8 <= vmcs12.Length - f.Offset ? 8 : vmcs12.Length - f.Offset), 0ul);
            var bytes = BitConverter.GetBytes(Pattern(f.Encoding));
            bytes.AsSpan(0, f.AccessSize).CopyTo(vmcs12.AsSpan(f.Offset));
        }

        var recorder = new RecordingVmcs(profile.Catalog);
        var copied = TLayout.CopyVmcs12ToShadow(ref recorder, vmcs12, features);
        if (!copied.IsSuccess)
        {
            throw new BochsException($"{TLayout.Name}: the generated CopyVmcs12ToShadow failed on this CPU's field set ({copied}) after " +
                $"{recorder.Writes.Count} VMWRITEs; the last was refused");
        }

        var shadow = new Dictionary<uint, ulong>();
        foreach (var (encoding, value) in recorder.Writes)
        {
            shadow[encoding] = value;
        }

        var caps = profile.Capabilities;
        var vmcs01 = new Dictionary<uint, ulong>(VmcsImage.MirrorGuest64(0, VmcsImage.GuestStack));
        foreach (var (encoding, value) in VmcsImage.Host(GuestMode.Long64))
        {
            vmcs01[encoding] = value;
        }

        vmcs01[VmcsImage.PinControls] = caps.MustBeOne(VmxControl.PinBased);
        vmcs01[VmcsImage.PrimaryControls] = caps.MustBeOne(VmxControl.PrimaryProcessorBased) | (1u << 31); // activate secondary controls
        vmcs01[VmcsImage.SecondaryControls] = caps.MustBeOne(VmxControl.SecondaryProcessorBased) | (1u << 14); // VMCS shadowing
        vmcs01[VmcsImage.ExitControls] = caps.MustBeOne(VmxControl.VmExit) | (1u << 9); // 64-bit host
        vmcs01[VmcsImage.EntryControls] = caps.MustBeOne(VmxControl.VmEntry) | (1u << 9); // IA-32e mode guest
        vmcs01[VmcsImage.ExceptionBitmap] = 0xFFFF_FFFF; // any exception of L1 is a VM exit
        vmcs01[VmcsImage.VmreadBitmapAddress] = VmcsImage.VmreadBitmap;
        vmcs01[VmcsImage.VmwriteBitmapAddress] = VmcsImage.VmwriteBitmap;
        vmcs01[VmcsEncoding.VmcsLinkPointer] = VmcsImage.ShadowVmcs;

        var programs = new List<GuestProgram>();
        var plans = new List<List<(VmcsFieldDescriptor Field, bool Write, int LaunchStep, int ReadBackStep)>>();
        foreach (var chunk in VmcsImage.Chunk(fields, FieldsPerProgram))
        {
            var steps = VmcsImage.Enter(profile.Revision, shadow: true);
            steps.Add(new MemoryBytes(VmcsImage.VmreadBitmap, vmread));
            steps.Add(new MemoryBytes(VmcsImage.VmwriteBitmap, vmwrite));
            steps.Add(VmcsImage.Vmclear(VmcsImage.Pointers + 16));
            steps.Add(VmcsImage.Vmptrld(VmcsImage.Pointers + 16));
            steps.AddRange(recorder.Writes.Select(w => VmcsImage.Vmwrite(w.Encoding, w.Value)));
            steps.Add(VmcsImage.Vmclear(VmcsImage.Pointers + 16));
            steps.Add(VmcsImage.Vmptrld(VmcsImage.Pointers + 8));
            steps.AddRange(VmcsImage.WriteFields(GuestMode.Long64, vmcs01.Select(p => (p.Key, p.Value))));

            // L1's code: one block per access, at a fixed address.
            var code = new List<byte>();
            var blocks = new List<ulong>();
            foreach (var write in new[] { false, true })
            {
                foreach (var f in chunk)
                {
                    var at = VmcsImage.GuestCode + (ulong)code.Count;
                    blocks.Add(at);
                    code.AddRange(VmcsImage.Assemble64(at, a =>
                    {
                        a.mov(ecx, f.Encoding);
                        if (write)
                        {
                            a.mov(rax, Pattern(f.Encoding, write: true));
                            a.vmwrite(rcx, rax);
                        }
                        else
                        {
                            a.vmread(rsp, rcx);
                        }

                        a.cpuid(); // an unconditional VM exit (reason 10): RSP and RFLAGS are saved in the VMCS
                        a.ud2();
                    }));
                }
            }

            if (VmcsImage.GuestCode + (ulong)code.Count > VmcsImage.GuestCodeEnd)
            {
                throw new InvalidOperationException("L1's code does not fit in the data area");
            }

            steps.Add(new MemoryBytes(VmcsImage.GuestCode, code.ToArray()));
            var plan = new List<(VmcsFieldDescriptor, bool, int, int)>();
            var launched = false;
            var block = 0;
            foreach (var write in new[] { false, true })
            {
                foreach (var f in chunk)
                {
                    steps.Add(VmcsImage.Vmwrite(VmcsImage.GuestRip, blocks[block++]));
                    steps.Add(VmcsImage.Vmwrite(VmcsImage.GuestRsp, Sentinel));
                    steps.Add(VmcsImage.Vmwrite(VmcsImage.GuestRflags, 2));
                    var launch = steps.Count;
                    steps.Add(new VmxInstruction(launched ? VmxOpcode.Vmresume : VmxOpcode.Vmlaunch));
                    launched = true;
                    steps.Add(VmcsImage.Vmread(VmcsImage.GuestRsp));
                    steps.Add(VmcsImage.Vmread(VmcsImage.GuestRflags));
                    var readBack = -1;
                    if (write && ManifestShadows(f, write, features))
                    {
                        steps.Add(VmcsImage.Vmptrld(VmcsImage.Pointers + 16));
                        readBack = steps.Count;
                        steps.Add(VmcsImage.Vmread(f.Encoding));
                        steps.Add(VmcsImage.Vmptrld(VmcsImage.Pointers + 8));
                    }

                    plan.Add((f, write, launch, readBack));
                }
            }

            programs.Add(new GuestProgram(GuestMode.Long64, steps));
            plans.Add(plan);
        }

        var batch = runner.Run(programs, progress);
        var accesses = new List<ShadowAccess>();
        for (var p = 0; p < programs.Count; p++)
        {
            var records = batch.Programs[p];
            var index = new Dictionary<int, InstructionRecord>();
            foreach (var r in records)
            {
                index[r.Step] = r;
            }

            foreach (var (f, write, launch, readBack) in plans[p])
            {
                var outcome = index[launch].Outcome;
                var rsp = index[launch + 1].Value;
                var rflags = index[launch + 2].Value;
                accesses.Add(Judge(f, write, features, shadow, profile, outcome, rsp, rflags, readBack >= 0 ? index[readBack] : null));
            }
        }

        return new ShadowReport(TLayout.Name, features, recorder.Writes.Count, accesses, batch.Boots, batch.Elapsed);
    }

    /// <summary>What the manifest says: shadow-rw fields are shadowed both ways, shadow-ro fields on VMREAD, when their feature is on.</summary>
    private static bool ManifestShadows(VmcsFieldDescriptor f, bool write, ulong features) =>
        (f.FeatureMask == 0 || (features & f.FeatureMask) != 0)
            && (write ? f.Class == FieldClass.ShadowRw : f.Class is FieldClass.ShadowRw or FieldClass.ShadowRo);

    private static ShadowAccess Judge(
        VmcsFieldDescriptor f, bool write, ulong features, Dictionary<uint, ulong> shadow, VmxProfile profile, InstructionOutcome outcome, ulong rsp,
            ulong rflags,
        InstructionRecord? readBack)
    {
        var shadows = ManifestShadows(f, write, features);
        var onCpu = profile.Catalog.Supports(f.Encoding);
        var full = f.Encoding & ~1u;
        var before = shadow.TryGetValue(full, out var v) ? (f.IsHigh ? v >> 32 : v) : 0;
        var expected = write && shadows ? Pattern(f.Encoding, write: true) : before;
        ulong actual;
        string? mismatch = null;
        if (!shadows)
        {
            var reason = write ? 25u : 23u;
            actual = rsp; // an intercepted VMWRITE has no effect on the shadow (SDM 25.1.3): only the exit is checked
            if (!VmcsImage.IsExit(outcome, reason))
            {
                mismatch = $"the manifest intercepts it (exit {reason}); Bochs: {Describe(outcome, rflags, rsp)}";
            }
        }
        else
        {
            actual = write ? readBack?.Value ?? 0 : rsp;
            if (!VmcsImage.IsExit(outcome, 10))
            {
                mismatch = $"the manifest shadows it; Bochs: {VmcsImage.Describe(outcome)}";
            }
            else if ((rflags & 0x41) != 0)
            {
                mismatch = onCpu
                    ? $"the shadow access failed: {((rflags & 1) != 0 ? "VMfailInvalid" : "VMfailValid")}"
                    : "the CPU has no such field: the shadow access fails (VMfailValid 12)";
            }
            else if (write && readBack is { } r && r.Outcome.Kind != InstructionOutcomeKind.Succeed)
            {
                mismatch = $"reading the shadow field back failed: {VmcsImage.Describe(r.Outcome)}";
            }
            else if (actual != expected)
            {
                mismatch = write ? $"the shadow holds 0x{actual:X} after L1 wrote 0x{expected:X}" : $"L1 read 0x{actual:X}; " +
                    $"the generated copy put 0x{expected:X} there";
            }
        }

        return new ShadowAccess(f, write, shadows, onCpu, outcome, rflags, expected, actual, mismatch);
    }

    private static string Describe(InstructionOutcome outcome, ulong rflags, ulong rsp) =>
        VmcsImage.IsExit(outcome, 10)
            ? (rflags & 0x41) != 0 ? $"no exit, the shadow access failed ({((rflags & 1) != 0 ? "VMfailInvalid" : "VMfailValid")})" : "no exit, " +
                $"the shadow gave 0x{rsp:X}"
            : VmcsImage.Describe(outcome);

    /// <summary>An <see cref="IVmcs"/> that records the generated copy loop's VMWRITEs; a field the CPU lacks is VMfailValid(12), as on the CPU.</summary>
    private struct RecordingVmcs(VmcsFieldCatalog catalog) : IVmcs
    {
        public List<(uint Encoding, ulong Value)> Writes { get; } = [];

        public readonly VmxResult VmRead(uint encoding, out ulong value)
        {
            value = 0;
            return catalog.Supports(encoding) ? VmxResult.Succeed : VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
        }

        public readonly VmxResult VmWrite(uint encoding, ulong value)
        {
            if (!catalog.Supports(encoding))
            {
                return VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
            }

            Writes.Add((encoding, value));
            return VmxResult.Succeed;
        }

        public readonly VmxResult VmPtrLd(ulong address) => VmxResult.Succeed;

        public readonly VmxResult VmClear(ulong address) => VmxResult.Succeed;
    }
}
