using System;
using System.Collections.Generic;
using System.Linq;
using Iced.Intel;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>
/// Building blocks for programs that run a whole VMCS on Bochs (the runner as the VMM): a fixed map of the data area,
/// VMXON plus a fresh current VMCS, a VMCS written field by field, and a 64-bit guest state that mirrors the runner's own
/// (same paging, GDT, TSS) so a guest runs the code a program puts in the data area.
/// </summary>
public static class VmcsImage
{
    /// <summary>The VMXON region, the VMCS a program launches, and a shadow VMCS (4 KiB each).</summary>
    public const ulong VmxonRegion = GuestLayout.DataStart, Vmcs = GuestLayout.DataStart + 0x1000, ShadowVmcs = GuestLayout.DataStart + 0x2000;

    /// <summary>The VMREAD and VMWRITE bitmaps.</summary>
    public const ulong VmreadBitmap = GuestLayout.DataStart + 0x3000, VmwriteBitmap = GuestLayout.DataStart + 0x4000;

    /// <summary>The m64 pointer operands of VMXON, VMCLEAR and VMPTRLD: the VMXON region, the VMCS, the shadow VMCS.</summary>
    public const ulong Pointers = GuestLayout.DataStart + 0x5000;

    /// <summary>Guest code: 0x206000-0x20FFFF.</summary>
    public const ulong GuestCode = GuestLayout.DataStart + 0x6000, GuestCodeEnd = GuestLayout.NotPresentPage;

    /// <summary>The guest's stack top (below <see cref="GuestLayout.DataEnd"/>).</summary>
    public const ulong GuestStack = GuestLayout.DataEnd - 0x10;

    /// <summary>Encodings used here (SDM Vol. 3D Appendix B).</summary>
    public const uint PinControls = 0x4000, PrimaryControls = 0x4002, ExceptionBitmap = 0x4004, ExitControls = 0x400C, EntryControls = 0x4012,
        SecondaryControls = 0x401E, VmreadBitmapAddress = 0x2026, VmwriteBitmapAddress = 0x2028, GuestRsp = 0x681C, GuestRip = 0x681E, GuestRflags = 0x6820;

    /// <summary>
    /// Enters VMX operation with <paramref name="revision"/> and makes a fresh, clear VMCS at <see cref="Vmcs"/> current;
    /// with <paramref name="shadow"/> also writes a shadow VMCS region (revision | bit 31) at <see cref="ShadowVmcs"/>.
    /// </summary>
    public static List<GuestStep> Enter(uint revision, bool shadow = false)
    {
        var steps = new List<GuestStep>
        {
            new MemoryWrite(VmxonRegion, revision, 4),
            new MemoryWrite(Vmcs, revision, 4),
            new MemoryWrite(Pointers, VmxonRegion),
            new MemoryWrite(Pointers + 8, Vmcs),
            new MemoryWrite(Pointers + 16, ShadowVmcs),
        };
        if (shadow)
        {
            steps.Add(new MemoryWrite(ShadowVmcs, revision | 0x8000_0000u, 4));
        }

        steps.Add(new VmxInstruction(VmxOpcode.Vmxon, VmxOperand.Mem(Pointers)));
        steps.Add(Vmclear(Pointers + 8));
        steps.Add(Vmptrld(Pointers + 8));
        return steps;
    }

    public static VmxInstruction Vmclear(ulong pointerOperand) => new(VmxOpcode.Vmclear, VmxOperand.Mem(pointerOperand));

    public static VmxInstruction Vmptrld(ulong pointerOperand) => new(VmxOpcode.Vmptrld, VmxOperand.Mem(pointerOperand));

    /// <summary>VMWRITE of <paramref name="value"/> (RAX) to <paramref name="encoding"/> (RCX).</summary>
    public static VmxInstruction Vmwrite(uint encoding, ulong value) => new(VmxOpcode.Vmwrite, VmxOperand.Reg(Gpr.Rax, value),
        VmxOperand.Reg(Gpr.Rcx, encoding));

    /// <summary>VMREAD of <paramref name="encoding"/> (RCX) into RAX: the record's value.</summary>
    public static VmxInstruction Vmread(uint encoding) => new(VmxOpcode.Vmread, VmxOperand.Reg(Gpr.Rax), VmxOperand.Reg(Gpr.Rcx, encoding));

    /// <summary>
    /// VMWRITEs of <paramref name="fields"/> in order. In <see cref="GuestMode.Protected32"/> a VMWRITE moves 32 bits: a
    /// 64-bit field is written as its full encoding (bits 31:0) then its _HIGH encoding (bits 63:32), SDM 24.11.2.
    /// </summary>
    public static IEnumerable<GuestStep> WriteFields(GuestMode mode, IEnumerable<(uint Encoding, ulong Value)> fields)
    {
        foreach (var (encoding, value) in fields)
        {
            yield return Vmwrite(encoding, value);
            if (mode == GuestMode.Protected32 && VmcsEncoding.Width(encoding) == FieldWidth.Bits64 && (encoding & 1) == 0)
            {
                yield return Vmwrite(encoding | 1, value >> 32);
            }
        }
    }

    /// <summary>
    /// The runner's host state for <paramref name="mode"/> (VM exits return to it) and, for a 64-bit host, nothing else: the caller sets VM-exit control bit 9.
    /// </summary>
    public static IReadOnlyDictionary<uint, ulong> Host(GuestMode mode) => GuestLayout.HostState(mode);

    /// <summary>
    /// A 64-bit guest in the runner's own environment: CR0/CR3/CR4 as the runner, flat ring-0 segments of its GDT, its busy
    /// 64-bit TSS, no IDT (limit 0: an event the guest would deliver ends in a triple fault, a VM exit), RFLAGS = 2, DR7 =
    /// 0x400, no link pointer. The caller sets RIP, RSP and the IA-32e-mode-guest entry control (bit 9).
    /// </summary>
    public static IReadOnlyDictionary<uint, ulong> MirrorGuest64(ulong rip, ulong rsp)
    {
        var host = GuestLayout.HostState(GuestMode.Long64);
        var fields = new Dictionary<uint, ulong>
        {
            [0x6800] = GuestLayout.Cr0, [0x6802] = GuestLayout.Cr3(GuestMode.Long64), [0x6804] = GuestLayout.Cr4Long,
            [0x681A] = 0x400, [GuestRsp] = rsp, [GuestRip] = rip, [GuestRflags] = 2, [0x6822] = 0,
            [0x2800] = ulong.MaxValue, [0x2802] = 0, [0x4824] = 0, [0x4826] = 0, [0x482A] = 0, [0x6824] = 0, [0x6826] = 0,
            [0x6816] = host[0x6C0C], [0x4810] = 0x4F, [0x6818] = 0, [0x4812] = 0,
        };

        // ES, CS, SS, DS, FS, GS, LDTR, TR: selector 0x0800+2i, limit 0x4800+2i, access rights 0x4814+2i, base 0x6806+2i.
        (ushort Selector, uint Limit, uint Rights, ulong Base)[] segments =
        [
            (0x10, 0xFFFF_FFFF, 0xC093, 0), (0x18, 0xFFFF_FFFF, 0xA09B, 0), (0x10, 0xFFFF_FFFF, 0xC093, 0), (0x10, 0xFFFF_FFFF, 0xC093, 0),
            (0, 0, 0x1_0000, 0), (0, 0, 0x1_0000, 0), (0, 0, 0x1_0000, 0), ((ushort)host[0x0C0C], 0x67, 0x8B, host[0x6C0A]),
        ];
        for (var i = 0u; i < segments.Length; i++)
        {
            fields[0x0800 + (2 * i)] = segments[i].Selector;
            fields[0x4800 + (2 * i)] = segments[i].Limit;
            fields[0x4814 + (2 * i)] = segments[i].Rights;
            fields[0x6806 + (2 * i)] = segments[i].Base;
        }

        return fields;
    }

    /// <summary>Assembles 64-bit guest code at <paramref name="address"/> with Iced.</summary>
    public static byte[] Assemble64(ulong address, Action<Assembler> code)
    {
        var a = new Assembler(64);
        code(a);
        using var stream = new System.IO.MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }

    /// <summary>Whether an outcome is a VM exit with this basic reason (bits 15:0) and no entry-failure bit.</summary>
    public static bool IsExit(InstructionOutcome outcome, uint reason) =>
        outcome.Kind == InstructionOutcomeKind.VmExit && (outcome.ExitReason & 0xFFFF) == reason && (outcome.ExitReason >> 31) == 0;

    /// <summary>A short text for an outcome: VMsucceed, VMfailValid(n), exit 10 qual 0x0, #GP(0)…</summary>
    public static string Describe(InstructionOutcome outcome) => outcome.Kind switch
    {
        InstructionOutcomeKind.Succeed => "VMsucceed",
        InstructionOutcomeKind.FailInvalid => "VMfailInvalid",
        InstructionOutcomeKind.FailValid => $"VMfailValid({(int)outcome.Error})",
        InstructionOutcomeKind.Exception => $"exception {outcome.Vector} ({outcome.ErrorCode:X})",
        InstructionOutcomeKind.VmExit => $"exit {outcome.ExitReason & 0xFFFF} qual 0x{outcome.ExitQualification:X}",
        _ => $"entry failure {outcome.ExitReason & 0xFFFF} qual 0x{outcome.ExitQualification:X}",
    };

    internal static IEnumerable<IReadOnlyList<T>> Chunk<T>(IReadOnlyList<T> items, int size) =>
        Enumerable.Range(0, (items.Count + size - 1) / size).Select(i => (IReadOnlyList<T>)items.Skip(i * size).Take(size).ToList());
}
