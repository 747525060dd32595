namespace VmcsGen.Software;

// SoftwareVmx's VMCS shadowing: the guest's VMREAD/VMWRITE in VMX non-root operation, decided by the bitmaps and served from
// the shadow VMCS the link pointer references.
public sealed partial class SoftwareVmx
{
    /// <summary>
    /// The guest's VMREAD in VMX non-root operation on the current (working) VMCS, once L0 decided it goes to the shadow
    /// VMCS: reads the VMCS the link pointer references. Kept for callers that decide themselves; <see cref="NonRootVmRead"/>
    /// decides as the processor does.
    /// </summary>
    public VmxResult GuestVmRead(uint encoding, out ulong value)
    {
        var outcome = ShadowRead(encoding, out value);
        return outcome.Result!.Value;
    }

    /// <summary>The guest's VMWRITE into the shadow VMCS (see <see cref="GuestVmRead"/>).</summary>
    public VmxResult GuestVmWrite(uint encoding, ulong value) => ShadowWrite(encoding, value).Result!.Value;

    /// <summary>
    /// VMREAD executed by the guest in VMX non-root operation on the current (working) VMCS (SDM VMREAD pseudo-code): a VM
    /// exit (reason 23) unless "VMCS shadowing" is on, the encoding has no bit above 14 and its bit in the VMREAD bitmap
    /// (read from memory at the VMREAD-bitmap address) is clear; then VMfailInvalid with link pointer -1, VMfailValid(12)
    /// for an unsupported field (stored in the working VMCS), or the shadow VMCS's value.
    /// </summary>
    public InstructionOutcome NonRootVmRead(ulong encoding, out ulong value)
    {
        value = 0;
        if (_current is null || ExitsOnAccess(encoding, _vmreadBitmapSlot))
        {
            return _current is null ? InstructionOutcome.FailInvalid : ExitFor(VmxExitReason.VmRead, 0, RegisterInfo(Gpr.Rcx, Gpr.Rax, 64));
        }

        return ShadowRead((uint)encoding, out value);
    }

    /// <summary>VMWRITE executed by the guest in VMX non-root operation (see <see cref="NonRootVmRead"/>; reason 25, the VMWRITE bitmap).</summary>
    public InstructionOutcome NonRootVmWrite(ulong encoding, ulong value)
    {
        if (_current is null || ExitsOnAccess(encoding, _vmwriteBitmapSlot))
        {
            return _current is null ? InstructionOutcome.FailInvalid : ExitFor(VmxExitReason.VmWrite, 0, RegisterInfo(Gpr.Rcx, Gpr.Rax, 64));
        }

        return ShadowWrite((uint)encoding, value);
    }

    private InstructionOutcome ShadowRead(uint encoding, out ulong value)
    {
        GuestVmReads++;
        value = 0;
        if (LinkedShadow() is not { } shadow)
        {
            return InstructionOutcome.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return FailOutcome(VmxInstructionError.UnsupportedVmcsComponent);
        }

        value = LoadSlot(shadow.Fields[Catalog.SlotOf(encoding)], encoding);
        return InstructionOutcome.Succeed(value);
    }

    private InstructionOutcome ShadowWrite(uint encoding, ulong value)
    {
        GuestVmWrites++;
        if (LinkedShadow() is not { } shadow)
        {
            return InstructionOutcome.FailInvalid;
        }

        if (!Catalog.Supports(encoding))
        {
            return FailOutcome(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type(encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return FailOutcome(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        StoreSlot(ref shadow.Fields[Catalog.SlotOf(encoding)], encoding, MaskAccessRights(encoding, value));
        return InstructionOutcome.Succeed();
    }

    /// <summary>SDM: VM exit unless "VMCS shadowing" is 1, bits 63:15 of the encoding are 0 and its bitmap bit is 0.</summary>
    private bool ExitsOnAccess(ulong encoding, int bitmapSlot)
    {
        if (_current is null || _procSlot < 0 || _secondarySlot < 0 || bitmapSlot < 0)
        {
            return true;
        }

        var shadowing = (_current.Fields[_procSlot] & VmxCapabilities.ActivateSecondaryControls) != 0
            && (_current.Fields[_secondarySlot] & VmxCapabilities.SecondaryVmcsShadowing) != 0;
        return !shadowing || (encoding >> 15) != 0 || Memory.Bit(_current.Fields[bitmapSlot], (uint)encoding);
    }

    /// <summary>The VMCS the working VMCS's link pointer references; null when the pointer is -1 (VMfailInvalid).</summary>
    private Region? LinkedShadow()
    {
        if (_current is null || _linkSlot < 0)
        {
            return null;
        }

        var link = _current.Fields[_linkSlot];
        if (link == InvalidPointer)
        {
            return null;
        }

        if (_regions.TryGetValue(link, out var shadow) && shadow.Active)
        {
            return shadow;
        }

        var header = Memory.ReadUInt32(link);
        return (header & 0x8000_0000) != 0 || _regions.ContainsKey(link) ? Activate(link, header) : null;
    }
}
