using System;

namespace VmcsGen.Software;

public sealed partial class SoftwareVmx
{
    // ---------------------------------------------------------------------------------------------------------------
    // The VMM's fast path: VMX root operation, 64-bit mode, CPL 0, register operands.
    // ---------------------------------------------------------------------------------------------------------------

    public VmxResult VmPtrLd(ulong address)
    {
        _ptrlds++;
        return PtrLd(address);
    }

    public VmxResult VmClear(ulong address)
    {
        _clears++;
        return Clear(address);
    }

    public VmxResult VmRead(uint encoding, out ulong value)
    {
        _reads++;
        var slot = CountRead(encoding);
        value = 0;
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (slot < 0)
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        value = LoadSlot(_current.Fields[slot], encoding);
        return VmxResult.Succeed;
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        _writes++;
        var slot = CountWrite(encoding);
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (slot < 0)
        {
            return Fail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type(encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return Fail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        StoreSlot(ref _current.Fields[slot], encoding, MaskAccessRights(encoding, value));
        return VmxResult.Succeed;
    }

    /// <summary>VMLAUNCH's VMfail checks and, with <see cref="VmxProfile.EntryChecks"/>, the VM-entry checks; the VMCS becomes launched.</summary>
    /// <exception cref="InvalidOperationException">The guest state failed the checks (a VM-entry failure, which this path cannot return; use
    /// <see cref="ExecuteVmlaunch"/>).</exception>
    public VmxResult VmLaunch() => FastEntry(launch: true);

    /// <summary>VMRESUME's checks, as <see cref="VmLaunch"/>.</summary>
    public VmxResult VmResume() => FastEntry(launch: false);

    private VmxResult FastEntry(bool launch)
    {
        var outcome = Enter(launch, default);
        return outcome.Result ?? throw new InvalidOperationException($"VM{(launch ? "LAUNCH" : "RESUME")} on 0x{CurrentPointer:X}: {outcome}");
    }
}
