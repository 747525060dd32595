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
public sealed partial class ProgramGenerator
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
        _known = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => VmcsEncoding.IsWellFormed(e & ~1u)
            && VmcsFieldCatalog.AllKnown.Supports(e)).ToArray();
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

    /// <summary>One program's steps, drawn from one <see cref="Random"/>; its other parts: <c>ProgramGenerator.*.cs</c>.</summary>
    private sealed partial class Builder(ProgramGenerator g, Random r)
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

        private bool Inactive(ulong region) => !_active.Contains(region) && !_poisoned.Contains(region);

        private int Cpl() => r.NextDouble() < 0.08 ? 3 : 0;
    }
}
