using System;

namespace VmcsGen.Nested;

/// <summary>The oracle's side of L2: entries that copy every field into vmcs02, exits that copy every field back, and the nested state.</summary>
public sealed partial class ReferenceNestedVmx<TLayout, TControls, TBackend>
{
    public void L2WriteThrough(uint encoding, ulong value)
    {
        if (!_inL2)
        {
            throw new InvalidOperationException("L2WriteThrough: L2 is not running.");
        }

        if (!Known(encoding))
        {
            throw new ArgumentException($"L2WriteThrough: 0x{encoding:X4} is not a field here.", nameof(encoding));
        }

        // vmcs02 only: every guest-state field comes back into vmcs12 on the next exit.
        Check(_cpu.VmWrite(encoding, value));
    }

    public void ImportNestedState(NestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if ((state.CurrentVmcs12 != InvalidPointer) != (state.Vmcs12 is not null) || (state.Vmcs12 is not null && state.Vmcs12.Length != _vmcs12.Length)
            || (state.InL2 && state.CurrentVmcs12 == InvalidPointer)
                || (state.CurrentVmcs12 != InvalidPointer && (state.VmxonPointer ?? _vmxon) == InvalidPointer)
            || ((state.VmxonPointer ?? _vmxon) is var vmxon && vmxon != InvalidPointer && BadAddress(vmxon))
            || (state.CurrentVmcs12 != InvalidPointer && (BadAddress(state.CurrentVmcs12) || state.CurrentVmcs12 == vmxon)))
        {
            throw new ArgumentException("ImportNestedState: inconsistent state.", nameof(state));
        }

        _inL2 = false;
        Memory.Replace(state.L1Regions);
        _vmxon = state.VmxonPointer ?? _vmxon;
        _current = state.CurrentVmcs12;
        if (state.Vmcs12 is not null)
        {
            Array.Copy(state.Vmcs12, _vmcs12, _vmcs12.Length);
        }

        if (state.InL2)
        {
            EnterVmcs02(setLaunched: BitConverter.ToUInt32(_vmcs12, 8) == 0);
            foreach (var field in _fromVmcs02)
            {
                if (field.Type == FieldType.ExitInformation)
                {
                    TLayout.Read(_vmcs12, field.Encoding, out var value);
                    Check(_cpu.VmWrite(field.Encoding, value)); // as the CPU left it at L2's last exit
                }
            }
        }
    }

    public VmxResult L1VmLaunch() => Enter(launch: true);

    public VmxResult L1VmResume() => Enter(launch: false);

    public void L2Exit(ReadOnlySpan<FieldWrite> hardware)
    {
        if (!_inL2)
        {
            throw new InvalidOperationException("L2Exit: L2 is not running.");
        }

        foreach (var write in hardware)
        {
            if (!_cpu.VmWrite(write.Encoding, write.Value).IsSuccess)
            {
                throw new ArgumentException($"L2Exit: the CPU cannot write field 0x{write.Encoding:X4}.", nameof(hardware));
            }
        }

        CopyBack();
        _inL2 = false;
    }

    public NestedState ExportNestedState()
    {
        if (_inL2 && _current != InvalidPointer)
        {
            CopyBack();
        }

        return new NestedState(_current, _current == InvalidPointer ? null : (byte[])_vmcs12.Clone(), Memory.Copy(), _inL2) { VmxonPointer = _vmxon };
    }

    private VmxResult Enter(bool launch)
    {
        RequireL1();
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
        }

        var state = BitConverter.ToUInt32(_vmcs12, 8);
        if (launch && state != 0)
        {
            return VmFail(VmxInstructionError.VmlaunchNonClearVmcs);
        }

        if (!launch && state == 0)
        {
            return VmFail(VmxInstructionError.VmresumeNonLaunchedVmcs);
        }

        if (_options.Vmcs12EntryChecks is { } profile)
        {
            var reader = new Vmcs12Reader<TLayout, TControls>(_vmcs12);
            var check = Software.VmEntryChecks.Check(ref reader, profile, memory: null);
            if (check.Kind == Software.InstructionOutcomeKind.FailValid)
            {
                return VmFail(check.Error);
            }

            if (!check.Passed)
            {
                TLayout.Write(_vmcs12, VmcsEncoding.ExitReason, Software.VmxExitReason.InvalidGuestState | Software.VmxExitReason.EntryFailureBit);
                TLayout.Write(_vmcs12, VmcsEncoding.ExitQualification, check.Qualification);
                return VmxResult.EntryFailure;
            }
        }

        EnterVmcs02(launch);
        return VmxResult.Succeed;
    }

    private void EnterVmcs02(bool setLaunched)
    {
        Check(_cpu.VmPtrLd(_vmcs02));
        foreach (var field in _toVmcs02)
        {
            TLayout.Read(_vmcs12, field.Encoding, out var value);
            Check(_cpu.VmWrite(field.Encoding, value));
        }

        // vmcs02's link pointer is L0's business: -1, never L1's guest-physical address (KVM's prepare_vmcs02_constant_state).
        if (TLayout.TryGetField(VmcsEncoding.VmcsLinkPointer, out _))
        {
            Check(_cpu.VmWrite(VmcsEncoding.VmcsLinkPointer, ulong.MaxValue));
        }

        Check(_vmcs02Launched ? _cpu.VmResume() : _cpu.VmLaunch());
        _vmcs02Launched = true;
        if (setLaunched)
        {
            BitConverter.TryWriteBytes(_vmcs12.AsSpan(8), 1u);
        }

        _inL2 = true;
    }

    private void CopyBack()
    {
        foreach (var field in _fromVmcs02)
        {
            Check(_cpu.VmRead(field.Encoding, out var value));
            TLayout.Write(_vmcs12, field.Encoding, value);
        }
    }
}
