using System.Collections.Generic;
using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

public sealed partial class ProgramGenerator
{
    // VMCS field accesses: VMREAD and VMWRITE with host-safe values, and valid controls with the runner's host state.
    private sealed partial class Builder
    {
        private void Vmread()
        {
            var encoding = VmxOperand.Reg(Register(), Encoding());
            var destination = r.NextDouble() < 0.3 ? Operand8() : VmxOperand.Reg(Register(encoding.Register, avoid: r.NextDouble() < 0.9),
                0x5A5A_5A5A_5A5A_5A5A);
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
