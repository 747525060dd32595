namespace VmcsGen.Nested;

/// <summary>
/// The engine's state moves: the shadow VMCS flushed into vmcs12 and refreshed from it, the lazy rare sync, VMCS
/// shadowing in vmcs01 on and off, and releasing the current vmcs12.
/// </summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>Copies L1's writes from the shadow VMCS into vmcs12 (RW fields), unless vmcs12 is the newer copy.</summary>
    private void FlushShadow()
    {
        if (!Options.UseShadowVmcs || _current == InvalidPointer || _needShadowSync)
        {
            return;
        }

        EnterShadow();
        Check(Options.RuntimeOffsetLookup ? CopyShadowToVmcs12WithLookup() : TLayout.CopyShadowToVmcs12(ref _l0, _vmcs12, _features), "copy shadow to vmcs12");
        LeaveShadow();
    }

    /// <summary>Before L1 runs again: refresh the shadow VMCS from vmcs12 if it is behind.</summary>
    private void ResumeL1()
    {
        if (!_needShadowSync || _current == InvalidPointer)
        {
            return;
        }

        EnterShadow();
        Check(Options.RuntimeOffsetLookup ? CopyVmcs12ToShadowWithLookup() : TLayout.CopyVmcs12ToShadow(ref _l0, _vmcs12, _features), "copy vmcs12 to shadow");
        LeaveShadow();
        _needShadowSync = false;
        _box.Counts.ShadowSyncs++;
    }

    /// <summary>As KVM does around every shadow access: VMPTRLD the shadow VMCS …</summary>
    private void EnterShadow() => Check(_l0.VmPtrLd(Shadow), "VMPTRLD shadow");

    /// <summary>… then VMCLEAR it and make vmcs01 current again.</summary>
    private void LeaveShadow()
    {
        Check(_l0.VmClear(Shadow), "VMCLEAR shadow");
        Check(_l0.VmPtrLd(Vmcs01), "VMPTRLD vmcs01");
    }

    private void EnsureRareSynced()
    {
        if (!_rareStale)
        {
            return;
        }

        Check(_l0.VmPtrLd(Vmcs02), "VMPTRLD vmcs02");
        Check(TLayout.SyncVmcs02ToVmcs12Rare(ref _l0, _vmcs12, _features), "sync rare fields");
        Check(_l0.VmPtrLd(Vmcs01), "VMPTRLD vmcs01");
        _rareStale = false;
        _box.Counts.RareSyncs++;
    }

    /// <summary>The current vmcs12 stops being current: flush shadow and rare state into it and write it back to L1's memory.</summary>
    private void Release()
    {
        if (_current == InvalidPointer)
        {
            return;
        }

        FlushShadow();

        EnsureRareSynced();
        if (Memory.TryGet(_current, out var image))
        {
            _vmcs12.CopyTo(image, 0);
        }

        DisableShadowing();
        _needShadowSync = false;
        _current = InvalidPointer;
    }

    /// <summary>set_current_vmptr: shadowing on, the link pointer at the shadow VMCS, which is now behind vmcs12.</summary>
    private void EnableShadowing()
    {
        if (Options.UseShadowVmcs)
        {
            _vmcs01Secondary |= VmxCapabilities.SecondaryVmcsShadowing;
            Check(_l0.VmWrite(SecondaryControls, _vmcs01Secondary), "VMWRITE vmcs01 secondary controls");
            Check(_l0.VmWrite(VmcsLinkPointer, Shadow), "VMWRITE vmcs01 VMCS_LINK_POINTER");
            _needShadowSync = true;
        }
    }

    /// <summary>vmx_disable_shadow_vmcs: shadowing off and link pointer -1, so L1's accesses exit and fail as the SDM says.</summary>
    private void DisableShadowing()
    {
        if (Options.UseShadowVmcs && (_vmcs01Secondary & VmxCapabilities.SecondaryVmcsShadowing) != 0)
        {
            _vmcs01Secondary &= ~VmxCapabilities.SecondaryVmcsShadowing;
            Check(_l0.VmWrite(SecondaryControls, _vmcs01Secondary), "VMWRITE vmcs01 secondary controls");
            Check(_l0.VmWrite(VmcsLinkPointer, InvalidPointer), "VMWRITE vmcs01 VMCS_LINK_POINTER");
        }
    }
}
