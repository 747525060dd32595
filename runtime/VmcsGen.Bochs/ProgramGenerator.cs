using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>
/// Random VMX programs for differential runs, reproducible from (seed, index): VMXON/VMXOFF/VMCLEAR/VMPTRLD/VMPTRST/
/// VMREAD/VMWRITE/VMLAUNCH/VMRESUME in 64-bit and 32-bit protected mode, at CPL 0 and 3, with register and memory operands
/// (including the not-present page), boundary and random field encodings and values, VMCS regions with good, wrong and
/// shadow revision identifiers, and regions copied (by the size IA32_VMX_BASIC reports) or with a corrupted header once
/// VMCLEAR made them inactive (the SDM leaves an active region's memory undefined). Host-state fields are written with the
/// runner's <see cref="GuestLayout.HostState"/> or a value that fails the host checks, never a random one that would
/// pass them (a VM-entry failure loads the host state: it must return to the runner).
/// </summary>
public sealed class ProgramGenerator
{
    /// <summary>Where the generator puts things (all in the data area).</summary>
    public const ulong VmxonRegion = 0x200000, FirstRegion = 0x201000, PointerSlots = 0x20A000, OperandArea = 0x20B000;

    private const int Regions = 6;

    private readonly VmxProfile _profile;
    private readonly uint[] _known;
    private readonly int _regionSize;

    /// <param name="profile">The CPU the programs are for (its revision, region size, MAXPHYADDR, fields and controls).</param>
    /// <param name="guestShare">
    /// The share of programs that enter an L1 guest under VMCS shadowing (64-bit). Experimental, 0 by default: such runs
    /// still show disagreements not yet resolved (docs/RUNTIME.md, "Bochs").
    /// </param>
    public ProgramGenerator(VmxProfile profile, double guestShare = 0)
    {
        GuestShare = guestShare;
        _profile = profile ?? throw new ArgumentNullException(nameof(profile));
        _known = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => VmcsEncoding.IsWellFormed(e & ~1u) && VmcsFieldCatalog.AllKnown.Supports(e)).ToArray();
        var size = (int)((profile.ReadMsr(VmxMsr.Basic) >> 32) & 0x1FFF);
        _regionSize = size is > 0 and <= 4096 ? size : 4096;
    }

    /// <summary>The share of programs that enter an L1 guest (0 for none).</summary>
    public double GuestShare { get; }

    /// <summary>Program <paramref name="index"/> of the run with <paramref name="seed"/>: the same pair always gives the same program.</summary>
    public GuestProgram Generate(int seed, int index)
    {
        var key = unchecked((seed * 1_000_003) ^ (index * 7919) ^ 0x5bd1e995);
        var guest = GuestShare > 0 && new Random(key ^ 0x2f6b_1d3a).NextDouble() < GuestShare; // its own draw: the other programs stay as they were
        return new Builder(this, new Random(key)).Build(guest);
    }

    private sealed class Builder(ProgramGenerator g, Random r)
    {
        private readonly List<GuestStep> _steps = [];
        private readonly HashSet<ulong> _active = []; // regions VMPTRLDed since their last VMCLEAR: their memory is the CPU's
        private readonly HashSet<ulong> _poisoned = []; // active at a VMXOFF: their memory stays undefined (SDM 24.11)
        private bool _long;
        private int _slot;

        public GuestProgram Build(bool guest)
        {
            if (guest)
            {
                _long = true;
                return BuildGuest();
            }

            _long = r.NextDouble() < 0.7;
            var regions = Enumerable.Range(0, Regions).Select(i => FirstRegion + (ulong)(i * 0x1000)).ToArray();

            // Region headers: mostly this CPU's revision; some wrong, some with the shadow-VMCS indicator.
            if (r.NextDouble() < 0.95)
            {
                _steps.Add(new MemoryWrite(VmxonRegion, r.NextDouble() < 0.9 ? g._profile.Revision : Header(), 4));
            }

            foreach (var region in regions)
            {
                if (r.NextDouble() < 0.85)
                {
                    _steps.Add(new MemoryWrite(region, r.NextDouble() < 0.8 ? g._profile.Revision : Header(), 4));
                }
            }

            if (r.NextDouble() < 0.9)
            {
                Vmx(VmxOpcode.Vmxon, Pointer(VmxonRegion), cpl: 0);
            }

            var count = r.Next(4, 24);
            for (var i = 0; i < count; i++)
            {
                Step(regions);
            }

            return new GuestProgram(_long ? GuestMode.Long64 : GuestMode.Protected32, _steps);
        }

        /// <summary>
        /// An L1 guest under VMCS shadowing: a shadow VMCS filled and cleared, a working VMCS with valid controls ("VMCS
        /// shadowing" on), random VMREAD/VMWRITE bitmaps, the link pointer to the shadow (or -1), the runner's host state and
        /// a guest that mirrors it; then the guest's VMREADs and VMWRITEs (register or absolute memory operands, CPL 0 or 3)
        /// and now and then another VMX instruction, until the first VM exit ends the program.
        /// </summary>
        private GuestProgram BuildGuest()
        {
            const ulong Working = FirstRegion, ShadowRegion = FirstRegion + 0x1000, ReadBitmap = FirstRegion + 0x3000, WriteBitmap = FirstRegion + 0x4000;
            var revision = g._profile.Revision;
            _steps.Add(new MemoryWrite(VmxonRegion, revision, 4));
            _steps.Add(new MemoryWrite(Working, revision, 4));
            _steps.Add(new MemoryWrite(ShadowRegion, r.NextDouble() < 0.9 ? revision | 0x8000_0000u : revision, 4));
            Vmx(VmxOpcode.Vmxon, Pointer(VmxonRegion), 0);

            // The shadow VMCS: made current, given values, cleared (so its memory holds them).
            Vmx(VmxOpcode.Vmptrld, Pointer(ShadowRegion), 0);
            for (var i = r.Next(0, 8); i > 0; i--)
            {
                var e = g._known[r.Next(g._known.Length)];
                Write(e, Value(e));
            }

            Vmx(VmxOpcode.Vmclear, Pointer(ShadowRegion), 0);

            // Bitmaps: a few random qwords of set bits; a clear bit lets the guest's access through to the shadow VMCS.
            foreach (var bitmap in new[] { ReadBitmap, WriteBitmap })
            {
                for (var i = r.Next(0, 12); i > 0; i--)
                {
                    _steps.Add(new MemoryWrite(bitmap + (ulong)(8 * r.Next(0, 512)), (ulong)(uint)r.Next() << r.Next(0, 33)));
                }
            }

            Vmx(VmxOpcode.Vmptrld, Pointer(Working), 0);
            var caps = g._profile;
            Write(0x4000, (uint)caps.ReadMsr(VmxMsr.TruePinBasedCtls));
            Write(0x4002, (uint)caps.ReadMsr(VmxMsr.TrueProcBasedCtls) | VmxCapabilities.ActivateSecondaryControls);
            Write(0x401E, r.NextDouble() < 0.95 ? VmxCapabilities.SecondaryVmcsShadowing : 0);
            Write(0x400C, (uint)caps.ReadMsr(VmxMsr.TrueExitCtls) | 0x200);
            Write(0x4012, (uint)caps.ReadMsr(VmxMsr.TrueEntryCtls) | 0x200);
            Write(0x2026, ReadBitmap);
            Write(0x2028, WriteBitmap);
            Write(0x2800, r.NextDouble() < 0.9 ? ShadowRegion : ulong.MaxValue);
            foreach (var (e, v) in GuestLayout.HostState(GuestMode.Long64).Concat(GuestLayout.GuestState64))
            {
                Write(e, v);
            }

            _steps.Add(new EnterGuest());
            for (var i = r.Next(1, 16); i > 0; i--)
            {
                switch (r.Next(20))
                {
                    case < 9:
                        GuestAccess(VmxOpcode.Vmread);
                        break;
                    case < 18:
                        GuestAccess(VmxOpcode.Vmwrite);
                        break;
                    default:
                        var opcode = (VmxOpcode)r.Next(0, 9);
                        _steps.Add(opcode is VmxOpcode.Vmread or VmxOpcode.Vmwrite or VmxOpcode.Vmxoff or VmxOpcode.Vmlaunch or VmxOpcode.Vmresume
                            ? new VmxInstruction(opcode is VmxOpcode.Vmread or VmxOpcode.Vmwrite ? VmxOpcode.Vmxoff : opcode, default, default, Cpl())
                            : new VmxInstruction(opcode, VmxOperand.Mem(OperandArea + (ulong)(8 * r.Next(0, 500))), default, Cpl()));
                        break;
                }
            }

            return new GuestProgram(GuestMode.Long64, _steps);
        }

        /// <summary>VMWRITE of a field with a register source at CPL 0 (setup of a VMCS).</summary>
        private void Write(uint encoding, ulong value) =>
            _steps.Add(new VmxInstruction(VmxOpcode.Vmwrite, VmxOperand.Reg(Gpr.Rax, value), VmxOperand.Reg(Gpr.Rcx, encoding)));

        /// <summary>The guest's VMREAD/VMWRITE: register or absolute memory operand (the exit qualification is its displacement).</summary>
        private void GuestAccess(VmxOpcode opcode)
        {
            var raw = r.NextDouble() < 0.8 ? g._known[r.Next(g._known.Length)] : Encoding();
            var encoding = VmxOperand.Reg(Register(), raw);
            VmxOperand operand;
            if (r.NextDouble() < 0.3)
            {
                operand = VmxOperand.Mem(OperandArea + (ulong)r.Next(0, 0xFF8));
                if (opcode == VmxOpcode.Vmwrite)
                {
                    _steps.Add(new MemoryWrite(operand.Address, Value(raw)));
                }
            }
            else
            {
                var reg = Register(encoding.Register, avoid: true);
                operand = VmxOperand.Reg(reg, opcode == VmxOpcode.Vmwrite ? Value(raw) : 0x5A5A_5A5A_5A5A_5A5A);
            }

            _steps.Add(new VmxInstruction(opcode, operand, encoding, Cpl()));
        }

        private bool Inactive(ulong region) => !_active.Contains(region) && !_poisoned.Contains(region);

        private uint Header() => r.Next(5) switch
        {
            0 => g._profile.Revision | 0x8000_0000u, // a shadow VMCS
            1 => g._profile.Revision + 1,
            2 => 0,
            3 => 0xFFFF_FFFF,
            _ => (uint)r.Next(),
        };

        private int Cpl() => r.NextDouble() < 0.08 ? 3 : 0;

        private void Step(ulong[] regions)
        {
            var region = regions[r.Next(regions.Length)];
            switch (r.Next(100))
            {
                case < 14:
                    Vmx(VmxOpcode.Vmptrld, Pointer(PointerValue(region)), Cpl());
                    break;
                case < 22:
                    Vmx(VmxOpcode.Vmclear, Pointer(PointerValue(region)), Cpl());
                    break;
                case < 26:
                    Vmx(VmxOpcode.Vmptrst, Operand8(), Cpl());
                    break;
                case < 48:
                    Vmread();
                    break;
                case < 74:
                    Vmwrite();
                    break;
                case < 79:
                    Vmx(r.NextDouble() < 0.6 ? VmxOpcode.Vmlaunch : VmxOpcode.Vmresume, default, Cpl());
                    break;
                case < 82 when _long:
                    // 64-bit hosts only: a VM-entry failure that loads a 32-bit host state has hung Bochs 2.7 here
                    // (seed 1, program 19535): not yet understood, so not generated (docs/RUNTIME.md, "Bochs").
                    ValidControlsAndHost();
                    break;
                case < 85:
                    Vmx(VmxOpcode.Vmxon, Pointer(r.NextDouble() < 0.7 ? VmxonRegion : PointerValue(region)), Cpl());
                    break;
                case < 87:
                    Vmx(VmxOpcode.Vmxoff, default, Cpl());
                    break;
                case < 93:
                    // Copy an inactive region (by the size IA32_VMX_BASIC reports) to another inactive one.
                    var to = regions[r.Next(regions.Length)];
                    if (to != region && Inactive(region) && Inactive(to))
                    {
                        _steps.Add(new MemoryCopy(region, to, g._regionSize));
                    }

                    break;
                default:
                    // Rewrite an inactive region's header (revision identifier and shadow-VMCS indicator, SDM 24.2).
                    if (Inactive(region))
                    {
                        _steps.Add(new MemoryWrite(region, r.NextDouble() < 0.5 ? g._profile.Revision : Header(), 4));
                    }

                    break;
            }
        }

        /// <summary>A pointer for VMPTRLD/VMCLEAR/VMXON: mostly a region; sometimes unaligned, beyond MAXPHYADDR, the VMXON region, 0 or -1.</summary>
        private ulong PointerValue(ulong region) => r.Next(20) switch
        {
            0 => region | (uint)r.Next(1, 0x1000),
            1 => region | (1ul << g._profile.PhysicalAddressWidth),
            2 => VmxonRegion,
            3 => 0,
            4 => ulong.MaxValue,
            5 => region | (1ul << (g._profile.PhysicalAddressWidth + r.Next(0, 64 - g._profile.PhysicalAddressWidth))),
            _ => region,
        };

        /// <summary>An m64 operand holding <paramref name="value"/>: a fresh pointer slot, or the not-present page.</summary>
        private VmxOperand Pointer(ulong value)
        {
            if (r.NextDouble() < 0.04)
            {
                return VmxOperand.Mem(GuestLayout.NotPresentPage + (ulong)(r.Next(0, 0x1F8) & ~7));
            }

            var slot = PointerSlots + (ulong)(8 * (_slot++ % 500));
            _steps.Add(new MemoryWrite(slot, value));
            return VmxOperand.Mem(slot);
        }

        /// <summary>A memory operand for VMPTRST/VMREAD/VMWRITE: the operand area (any alignment) or the not-present page.</summary>
        private VmxOperand Operand8() => r.NextDouble() < 0.12
            ? VmxOperand.Mem(GuestLayout.NotPresentPage + (ulong)r.Next(0, 0xFF8))
            : VmxOperand.Mem(OperandArea + (ulong)r.Next(0, 0xFF8));

        private void Vmx(VmxOpcode opcode, VmxOperand operand, int cpl, VmxOperand encoding = default)
        {
            Gpr? memoryBase = null;
            if (operand.IsMemory && r.NextDouble() < 0.5)
            {
                memoryBase = Register(encoding.Register, avoid: opcode is VmxOpcode.Vmread or VmxOpcode.Vmwrite);
            }

            _steps.Add(new VmxInstruction(opcode, operand, encoding, cpl, memoryBase));
            if (opcode == VmxOpcode.Vmptrld && cpl == 0 && _steps[^2] is MemoryWrite w && w.Address == operand.Address)
            {
                _active.Add(w.Value); // possibly loaded: treat as active until cleared
            }
            else if (opcode == VmxOpcode.Vmclear && cpl == 0 && _steps[^2] is MemoryWrite c && c.Address == operand.Address && c.Value != VmxonRegion)
            {
                _active.Remove(c.Value);
            }
            else if (opcode == VmxOpcode.Vmxoff && cpl == 0)
            {
                _poisoned.UnionWith(_active);
            }
        }

        private Gpr Register(Gpr avoidRegister = Gpr.Rsp, bool avoid = false)
        {
            while (true)
            {
                var reg = (Gpr)r.Next(_long ? 16 : 8);
                if (reg != Gpr.Rsp && (!avoid || reg != avoidRegister))
                {
                    return reg;
                }
            }
        }

        private ulong Encoding()
        {
            ulong e = r.Next(10) switch
            {
                < 6 => g._known[r.Next(g._known.Length)],
                6 => (ulong)r.Next(0, 0x8000), // any 15-bit value: reserved bits, gaps, odd (high) forms
                7 => r.Next(6) switch { 0 => 0ul, 1 => 0x7FFFul, 2 => 0x8000ul, 3 => 0xFFFFul, 4 => 0xFFFF_FFFFul, _ => 0x1_0000_0000ul | g._known[r.Next(g._known.Length)] },
                8 => g._known[r.Next(g._known.Length)] | (1ul << r.Next(15, 64)),
                _ => (ulong)(uint)r.Next() | ((ulong)(uint)r.Next() << 32),
            };
            return _long ? e : (uint)e;
        }

        private ulong Value(ulong encoding) => r.Next(8) switch
        {
            0 => 0,
            1 => ulong.MaxValue,
            2 => (ulong)r.Next(0, 256),
            3 => 1ul << r.Next(64),
            4 when encoding == 0x2800 => r.NextDouble() < 0.5 ? ulong.MaxValue : FirstRegion + (0x1000ul * (uint)r.Next(Regions)),
            _ => (ulong)(uint)r.Next() | ((ulong)(uint)r.Next() << 32),
        };

        private void Vmread()
        {
            var encoding = VmxOperand.Reg(Register(), Encoding());
            var destination = r.NextDouble() < 0.3 ? Operand8() : VmxOperand.Reg(Register(encoding.Register, avoid: r.NextDouble() < 0.9), 0x5A5A_5A5A_5A5A_5A5A);
            if (!destination.IsMemory && destination.Register == encoding.Register)
            {
                destination = VmxOperand.Reg(destination.Register, encoding.Value);
            }

            Vmx(VmxOpcode.Vmread, destination, Cpl(), encoding);
        }

        private void Vmwrite()
        {
            var raw = Encoding();
            var encoding = VmxOperand.Reg(Register(), raw);
            var value = HostSafe((uint)raw, Value(raw));
            VmxOperand source;
            if (r.NextDouble() < 0.3)
            {
                source = Operand8();
                if (GuestLayout.IsWritable(source.Address, 8))
                {
                    _steps.Add(new MemoryWrite(source.Address, value));
                }
            }
            else
            {
                var reg = Register(encoding.Register, avoid: r.NextDouble() < 0.95);
                source = VmxOperand.Reg(reg, reg == encoding.Register ? encoding.Value : value);
            }

            Vmx(VmxOpcode.Vmwrite, source, Cpl(), encoding);
        }

        /// <summary>A host-state field gets the runner's value or one that fails the host checks; others keep theirs.</summary>
        private ulong HostSafe(uint encoding, ulong value)
        {
            var host = GuestLayout.HostState(_long ? GuestMode.Long64 : GuestMode.Protected32);
            var full = encoding & ~1u;
            if (!host.TryGetValue(full, out var good) && full is not (0x2C00 or 0x2C02 or 0x2C04 or 0x4C00 or 0x6C10 or 0x6C12))
            {
                return value;
            }

            if ((encoding & 1) != 0)
            {
                return 0; // the high half of a 64-bit host field
            }

            return r.Next(3) switch
            {
                0 when full is >= 0x0C00 and <= 0x0C0C => good | 1, // RPL != 0
                0 when full == 0x6C00 => good & ~1ul, // CR0.PE = 0
                0 when full is 0x6C0A or 0x6C0C or 0x6C0E or 0x6C06 or 0x6C08 => 0x8000_0000_0000_0000, // not canonical
                _ => host.TryGetValue(full, out var v) ? v : 0,
            };
        }

        /// <summary>Control fields from the capability MSRs' allowed settings and the runner's host state: VMLAUNCH goes on to the guest checks.</summary>
        private void ValidControlsAndHost()
        {
            var caps = g._profile;
            var pin = (uint)caps.ReadMsr(VmxMsr.TruePinBasedCtls);
            var proc = (uint)caps.ReadMsr(VmxMsr.TrueProcBasedCtls);
            var exit = (uint)caps.ReadMsr(VmxMsr.TrueExitCtls) | (_long ? 0x200u : 0);
            var entry = (uint)caps.ReadMsr(VmxMsr.TrueEntryCtls);
            var fields = new List<(uint, ulong)> { (0x4000, pin), (0x4002, proc), (0x400C, exit), (0x4012, entry), (0x2800, ulong.MaxValue) };
            fields.AddRange(GuestLayout.HostState(_long ? GuestMode.Long64 : GuestMode.Protected32).Select(p => (p.Key, p.Value)));
            foreach (var (e, v) in fields)
            {
                var reg = Register();
                var valueReg = Register(reg, avoid: true);
                _steps.Add(new VmxInstruction(VmxOpcode.Vmwrite, VmxOperand.Reg(valueReg, _long ? v : (uint)v), VmxOperand.Reg(reg, e)));
            }
        }
    }
}
