using System;
using System.Buffers.Binary;

namespace VmcsGen.Nested;

/// <summary>The nested VM entry: L1's VMLAUNCH/VMRESUME, L0's checks of vmcs12, and vmcs02 prepared from it.</summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>L1 executes VMLAUNCH; on success L2 runs until <see cref="L2Exit"/>.</summary>
    public VmxResult L1VmLaunch() => Enter(launch: true);

    /// <summary>L1 executes VMRESUME; on success L2 runs until <see cref="L2Exit"/>.</summary>
    public VmxResult L1VmResume() => Enter(launch: false);

    private VmxResult Enter(bool launch)
    {
        RequireL1();
        if (launch)
        {
            _box.Counts.ExitsVmlaunch++;
        }
        else
        {
            _box.Counts.ExitsVmresume++;
        }

        if (CheckCurrentVmcs() is { } refused)
        {
            return refused;
        }

        var launched = BinaryPrimitives.ReadUInt32LittleEndian(_vmcs12.AsSpan(8)) != 0;
        if (launch && launched)
        {
            return VmFail(VmxInstructionError.VmlaunchNonClearVmcs);
        }

        if (!launch && !launched)
        {
            return VmFail(VmxInstructionError.VmresumeNonLaunchedVmcs);
        }

        FlushShadow();
        if (Options.Vmcs12EntryChecks is { } profile && CheckVmcs12(profile) is { } failed)
        {
            return failed;
        }

        EnterVmcs02(launch);
        return VmxResult.Succeed;
    }

    /// <summary>
    /// KVM's nested_vmx_check_controls/_host_state (VMfail 7/8) and nested_vmx_check_guest_state (an entry-failure exit:
    /// vmcs12's exit reason and qualification set, L1's state loaded from vmcs12's host area, shadow refreshed).
    /// </summary>
    private VmxResult? CheckVmcs12(Software.VmxProfile profile)
    {
        var reader = new Vmcs12Reader<TLayout, TControls>(_vmcs12);
        var check = Software.VmEntryChecks.Check(ref reader, profile, memory: null);
        if (check.Passed)
        {
            return null;
        }

        if (check.Kind == Software.InstructionOutcomeKind.FailValid)
        {
            return VmFail(check.Error);
        }

        _box.Counts.EntryFailures++;
        TLayout.Write(_vmcs12, ExitReason, Software.VmxExitReason.InvalidGuestState | Software.VmxExitReason.EntryFailureBit);
        TLayout.Write(_vmcs12, ExitQualification, check.Qualification);
        if (Options.LoadHostStateIntoVmcs01)
        {
            LoadHostStateIntoVmcs01();
        }

        _needShadowSync = Options.UseShadowVmcs;
        ResumeL1();
        return VmxResult.EntryFailure;
    }

    /// <summary>nested_vmx_enter_non_root_mode: prepare vmcs02 from vmcs12 (shadow already flushed), enter L2.</summary>
    private void EnterVmcs02(bool launch)
    {
        SwitchVcpu();
        Check(_l0.VmPtrLd(Vmcs02), "VMPTRLD vmcs02");
        // Before December 2017 KVM kept no dirty state: every entry prepared vmcs02 in full.
        if (Options.PrepareFullVmcs02EveryEntry)
        {
            _dirty = TLayout.AllDirtyGroups;
        }

        var dirty = _dirty;
        Check(TLayout.PrepareVmcs02(ref _l0, _vmcs12, dirty, _features, ref _controls02), "prepare vmcs02");
        if (Options.Pre2019VmcsTraffic)
        {
            LegacyEntryWrites();
        }

        // vmcs02's link pointer is L0's: -1 (KVM's prepare_vmcs02_constant_state), whatever vmcs12 holds. Rewritten
        // whenever the entry preparation may have copied L1's value over it.
        if (!_vmcs02Launched || (_linkPointerGroup & _dirty) != 0 || _linkPointerEveryEntry)
        {
            Check(_l0.VmWrite(VmcsLinkPointer, InvalidPointer), "VMWRITE vmcs02 VMCS_LINK_POINTER");
        }

        if (Options.RewriteControlsEveryEntry)
        {
            foreach (var encoding in _entryControls)
            {
                // Those of a dirty group were just written by the entry preparation: KVM writes each control once.
                if ((TLayout.DirtyGroupOf(encoding) & dirty) != 0)
                {
                    continue;
                }

                TLayout.Read(_vmcs12, encoding, out var value);
                Check(_l0.VmWrite(encoding, value), "VMWRITE vmcs02 control");
            }
        }

        _dirty = 0;
        if (_box.Vmcs02ControlsChanged)
        {
            _box.Counts.FullConsistencyChecks++;
            _box.Vmcs02ControlsChanged = false;
        }

        Check(_vmcs02Launched ? _cpu.VmResume() : _cpu.VmLaunch(), "VM entry on vmcs02");
        _vmcs02Launched = true;
        if (launch)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_vmcs12.AsSpan(8), 1);
        }

        _box.Counts.NestedEntries++;
        _inL2 = true;
    }
}
