using System;
using System.Buffers.Binary;

namespace VmcsGen.Nested;

/// <summary>KVM_GET_NESTED_STATE and KVM_SET_NESTED_STATE: the engine's state exported and imported.</summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>
    /// What KVM_GET_NESTED_STATE would save: shadow and rare state flushed into vmcs12 first (in L2: vmcs02 synced into it).
    /// </summary>
    public NestedState ExportNestedState()
    {
        if (_current != InvalidPointer)
        {
            if (_inL2)
            {
                Check(TLayout.SyncVmcs02ToVmcs12(ref _l0, _vmcs12, _features), "sync vmcs02 to vmcs12");
                Check(TLayout.SyncVmcs02ToVmcs12Rare(ref _l0, _vmcs12, _features), "sync vmcs02 rare fields to vmcs12");
                _rareStale = false;
            }
            else
            {
                FlushShadow();
                EnsureRareSynced();
            }
        }

        return new NestedState(_current, _current == InvalidPointer ? null : (byte[])_vmcs12.Clone(), Memory.Copy(), _inL2) { VmxonPointer = _vmxon };
    }

    /// <summary>
    /// KVM_SET_NESTED_STATE: L2 (if running) is left without a VM exit, the current vmcs12 dropped, and the exported state
    /// taken as the engine's own: L1's regions, the VMXON pointer, the current vmcs12 (all of it dirty, the shadow VMCS
    /// refreshed before L1 runs) and, when <see cref="NestedState.InL2"/>, a VM entry into L2 on a vmcs02 prepared from it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The state is inconsistent, as vmx_set_nested_state's -EINVAL: a vmcs12 of the wrong size, InL2 or a current vmcs12
    /// outside VMX operation, a VMXON or vmcs12 address that is no valid page, a vmcs12 at the VMXON region.
    /// </exception>
    public void ImportNestedState(NestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var hasCurrent = state.CurrentVmcs12 != InvalidPointer;
        if (hasCurrent != (state.Vmcs12 is not null) || (state.Vmcs12 is not null && state.Vmcs12.Length != TLayout.Size))
        {
            throw new ArgumentException($"ImportNestedState: the vmcs12 must be {TLayout.Size} bytes exactly when there is a current VMCS pointer.",
                nameof(state));
        }

        var vmxon = state.VmxonPointer ?? _vmxon;
        if ((state.InL2 && !hasCurrent) || (hasCurrent && vmxon == InvalidPointer))
        {
            throw new ArgumentException("ImportNestedState: L2 cannot run, nor a vmcs12 be current, outside VMX operation.", nameof(state));
        }

        // vmx_set_nested_state: -EINVAL for a VMXON or vmcs12 address that is not a valid page, or a vmcs12 at the VMXON region.
        if ((vmxon != InvalidPointer && !ValidL1Address(vmxon)) || (hasCurrent && (!ValidL1Address(state.CurrentVmcs12) || state.CurrentVmcs12 == vmxon)))
        {
            throw new ArgumentException($"ImportNestedState: VMXON pointer 0x{vmxon:X} or vmcs12 pointer 0x{state.CurrentVmcs12:X} is not a valid, " +
                "distinct page address.", nameof(state));
        }

        ArgumentNullException.ThrowIfNull(state.L1Regions);

        if (_inL2)
        {
            SwitchVcpu();
            Check(_l0.VmPtrLd(Vmcs01), "VMPTRLD vmcs01");
            _inL2 = false;
        }

        DisableShadowing();
        Memory.Replace(state.L1Regions);
        _vmxon = vmxon;
        _current = state.CurrentVmcs12;
        _needShadowSync = false;
        _rareStale = false;
        if (!hasCurrent)
        {
            return;
        }

        state.Vmcs12!.CopyTo(_vmcs12, 0);
        _dirty = TLayout.AllDirtyGroups;
        EnableShadowing();
        if (!state.InL2)
        {
            ResumeL1();
            return;
        }

        // nested_vmx_enter_non_root_mode from set_nested_state: vmcs02 prepared in full from vmcs12, then the entry.
        var launched = BinaryPrimitives.ReadUInt32LittleEndian(_vmcs12.AsSpan(8)) != 0;
        _needShadowSync = false; // L1 does not run before L2: the exit refreshes the shadow
        EnterVmcs02(launch: !launched);

        // vmcs02's exit information is what the CPU left there at L2's last exit, which vmcs12 holds: put it back (as the
        // CPU, uncounted), so an export in L2, which syncs vmcs02 into vmcs12, gives back what was imported.
        foreach (var field in TLayout.Fields)
        {
            if (field.Type == FieldType.ExitInformation && !FieldRules.IsWrittenByL0(field.Encoding) && Present(field))
            {
                TLayout.Read(_vmcs12, field.Encoding, out var value);
                Check(_cpu.VmWrite(field.Encoding, value), "restore vmcs02 exit information");
            }
        }
    }
}
