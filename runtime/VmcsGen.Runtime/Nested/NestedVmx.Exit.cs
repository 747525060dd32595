using System;

namespace VmcsGen.Nested;

/// <summary>The nested VM exit (vmcs02 synced into vmcs12, L1's state loaded into vmcs01) and L2's write-throughs.</summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>
    /// L2 exits to L1: the CPU has written <paramref name="hardware"/> into vmcs02 (exit information and changed guest
    /// state); L0 emulates the nested VM-exit.
    /// </summary>
    /// <exception cref="InvalidOperationException">L2 is not running.</exception>
    /// <exception cref="ArgumentException">The CPU cannot write one of the fields (named in the message).</exception>
    public void L2Exit(ReadOnlySpan<FieldWrite> hardware)
    {
        if (!_inL2)
        {
            throw new InvalidOperationException("L2Exit: L2 is not running (no successful VMLAUNCH/VMRESUME since the last exit).");
        }

        foreach (var write in hardware)
        {
            var result = _cpu.VmWrite(write.Encoding, write.Value);
            if (!result.IsSuccess)
            {
                throw new ArgumentException($"L2Exit: the CPU cannot write field 0x{write.Encoding:X4} of vmcs02: {result}.", nameof(hardware));
            }
        }

        _box.Counts.NestedExits++;
        Check(TLayout.SyncVmcs02ToVmcs12(ref _l0, _vmcs12, _features), "sync vmcs02 to vmcs12");
        _rareStale = _hasRareFields;
        SwitchVcpu();
        Check(_l0.VmPtrLd(Vmcs01), "VMPTRLD vmcs01");
        if (Options.LoadHostStateIntoVmcs01)
        {
            LoadHostStateIntoVmcs01();
        }

        _inL2 = false;
        _needShadowSync = Options.UseShadowVmcs;
        ResumeL1();
    }

    /// <summary>
    /// While L2 runs, L0 emulates an L2 WRMSR that L1 does not intercept and writes the value through to vmcs12 and vmcs02,
    /// as KVM's vmx_set_msr does for SYSENTER_*, DEBUGCTL and PAT: the way a <c>no-sync</c> guest field changes in L2.
    /// </summary>
    /// <exception cref="InvalidOperationException">L2 is not running.</exception>
    /// <exception cref="ArgumentException">The field is not in the layout or not present on L0's CPU.</exception>
    public void L2WriteThrough(uint encoding, ulong value)
    {
        if (!_inL2)
        {
            throw new InvalidOperationException("L2WriteThrough: L2 is not running.");
        }

        if (!Supported(encoding, out var field))
        {
            throw new ArgumentException($"L2WriteThrough: 0x{encoding:X4} is not a field of {TLayout.Name} on this CPU.", nameof(encoding));
        }

        TLayout.Write(_vmcs12, field.Encoding, value);
        Check(_l0.VmWrite(field.Encoding, value), "VMWRITE vmcs02 (write-through)");
    }

    /// <summary>
    /// <c>load_vmcs12_host_state</c> (nested.c, unchanged by the 2019 series): on every nested VM-exit L0 writes L1's state,
    /// taken from vmcs12's host-state area or fixed by the SDM (27.5), into vmcs01's guest-state area.
    /// </summary>
    private void LoadHostStateIntoVmcs01()
    {
        foreach (var (guest, host, constant) in HostStateLoad.Writes)
        {
            var value = constant;
            if (host != 0 && TLayout.TryGetField(host, out var field) && Present(field))
            {
                TLayout.Read(_vmcs12, host, out value);
            }

            Check(_l0.VmWrite(guest, value), "VMWRITE vmcs01 (load_vmcs12_host_state)");
        }
    }
}
