using VmcsGen.Software;

namespace VmcsGen.Bochs;

public sealed partial class ProgramGenerator
{
    // Operands: region headers, pointers, memory operands, registers, field encodings and values.
    private sealed partial class Builder
    {
        /// <summary>A region header other than this CPU's revision: the shadow-VMCS indicator, the next revision, 0, -1 or random.</summary>
        private uint Header() => r.Next(5) switch
        {
            0 => g._profile.Revision | 0x8000_0000u, // a shadow VMCS
            1 => g._profile.Revision + 1,
            2 => 0,
            3 => 0xFFFF_FFFF,
            _ => (uint)r.Next(),
        };

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
                7 => r.Next(6) switch { 0 => 0ul, 1 => 0x7FFFul, 2 => 0x8000ul, 3 => 0xFFFFul, 4 => 0xFFFF_FFFFul,
                    _ => 0x1_0000_0000ul | g._known[r.Next(g._known.Length)] },
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
    }
}
