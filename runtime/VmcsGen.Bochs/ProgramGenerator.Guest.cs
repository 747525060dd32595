using System.Linq;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

public sealed partial class ProgramGenerator
{
    // An L1 guest under VMCS shadowing: its setup and the guest's own VMREADs and VMWRITEs.
    private sealed partial class Builder
    {
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
    }
}
