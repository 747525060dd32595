namespace VmcsGen.Nested;

/// <summary>L1's VMREAD and VMWRITE: what the shadow VMCS does not serve exits to L0, which emulates it against vmcs12.</summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>L1 executes VMREAD; <paramref name="encoding"/> is the whole register (bits 63:15 set: the CPU exits, L0 fails it with 12).</summary>
    public VmxResult L1VmRead(ulong encoding, out ulong value)
    {
        RequireL1();
        var outcome = _cpu.NonRootVmRead(encoding, out value);
        if (outcome.Kind != Software.InstructionOutcomeKind.VmExit)
        {
            _box.Counts.ShadowedVmreads++;
            return outcome.Result!.Value;
        }

        _box.Counts.ExitsVmread++;
        value = 0;
        if (CheckCurrentVmcs() is { } refused)
        {
            return refused;
        }

        if (!Supported(encoding, out var field))
        {
            return VmFail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (field.Class == FieldClass.RareSync)
        {
            EnsureRareSynced();
        }

        return TLayout.Read(_vmcs12, field.Encoding, out value);
    }

    /// <summary>L1 executes VMWRITE; <paramref name="encoding"/> is the whole register.</summary>
    public VmxResult L1VmWrite(ulong encoding, ulong value)
    {
        RequireL1();
        var outcome = _cpu.NonRootVmWrite(encoding, value);
        if (outcome.Kind != Software.InstructionOutcomeKind.VmExit)
        {
            _box.Counts.ShadowedVmwrites++;
            return outcome.Result!.Value;
        }

        _box.Counts.ExitsVmwrite++;
        if (CheckCurrentVmcs() is { } refused)
        {
            return refused;
        }

        if (!Supported(encoding, out var field))
        {
            return VmFail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (!FieldRules.L1MayWrite(field.Type, _l1VmwriteAny))
        {
            return VmFail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        EnsureRareSynced();

        if (VmcsEncoding.IsSegmentAccessRights(field.Encoding))
        {
            value &= VmcsEncoding.SegmentAccessRightsMask;
        }

        TLayout.Write(_vmcs12, field.Encoding, value);
        if (field.Class == FieldClass.ShadowRo && Options.UseShadowVmcs && (_vmreadBitmap[field.Encoding >> 3] & (1 << (int)(field.Encoding & 7))) == 0
            && !_needShadowSync)
        {
            // L1 reads this field from the shadow VMCS without exiting: put the new value there too.
            EnterShadow();
            Check(_l0.VmWrite(field.Encoding, value), "VMWRITE shadow");
            LeaveShadow();
        }

        _dirty |= TLayout.DirtyGroupOf(field.Encoding);
        return VmxResult.Succeed;
    }
}
