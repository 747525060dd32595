using System;
using System.Buffers.Binary;

namespace VmcsGen.Nested;

/// <summary>L1's VMCS-pointer and VMX-operation instructions: VMPTRLD, VMPTRST, VMCLEAR, VMXON and VMXOFF.</summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>L1 executes VMPTRLD.</summary>
    public VmxResult L1VmPtrLd(ulong address)
    {
        RequireL1();
        _box.Counts.ExitsVmptrld++;
        if (CheckVmcsPointer(address, VmxInstructionError.VmptrldInvalidAddress, VmxInstructionError.VmptrldVmxonPointer) is { } refused)
        {
            return refused;
        }

        // handle_vmptrld: bits 30:0 must be VMCS12_REVISION; the shadow-VMCS bit is allowed when L1 may use VMCS shadowing.
        if (!Memory.TryGet(address, out var image) || !AcceptableHeader(BinaryPrimitives.ReadUInt32LittleEndian(image), Options.L1VmcsShadowing))
        {
            return VmFail(VmxInstructionError.VmptrldIncorrectVmcsRevisionId);
        }

        if (address == _current)
        {
            return VmxResult.Succeed;
        }

        Release();
        image.CopyTo(_vmcs12, 0);
        _current = address;
        _dirty = TLayout.AllDirtyGroups;
        EnableShadowing();
        ResumeL1();
        return VmxResult.Succeed;
    }

    /// <summary>L1 executes VMPTRST: always an exit (no shadowing); the current-VMCS pointer, -1 without one.</summary>
    public VmxResult L1VmPtrSt(out ulong pointer)
    {
        RequireL1();
        _box.Counts.ExitsOther++;
        pointer = _current;
        if (_vmxon == InvalidPointer)
        {
            pointer = 0;
            return VmxResult.InvalidOpcode;
        }

        return VmxResult.Succeed;
    }

    /// <summary>L1 executes VMCLEAR.</summary>
    public VmxResult L1VmClear(ulong address)
    {
        RequireL1();
        _box.Counts.ExitsVmclear++;
        if (CheckVmcsPointer(address, VmxInstructionError.VmclearInvalidAddress, VmxInstructionError.VmclearVmxonPointer) is { } refused)
        {
            return refused;
        }

        if (address == _current)
        {
            Release();
        }

        if (Memory.TryGet(address, out var image))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(8), 0);
        }

        return VmxResult.Succeed;
    }

    /// <summary>
    /// L1 executes VMXON with its region at <paramref name="address"/> (KVM's handle_vmxon): in VMX operation, VMfail(15);
    /// a misaligned or too-wide pointer, or a region (in <see cref="Memory"/>) whose first 32 bits are not the VMCS12
    /// revision, VMfailInvalid. CR0/CR4 and IA32_FEATURE_CONTROL checks (#UD/#GP) are L1's CPU's business and not modelled.
    /// </summary>
    public VmxResult L1VmxOn(ulong address)
    {
        RequireL1();
        _box.Counts.ExitsOther++;
        if (_vmxon != InvalidPointer)
        {
            return VmFail(VmxInstructionError.VmxonInVmxRootOperation);
        }

        if (!ValidL1Address(address) || !Memory.TryGet(address, out var region) || BinaryPrimitives.ReadUInt32LittleEndian(region) != TLayout.Revision)
        {
            return VmxResult.FailInvalid;
        }

        _vmxon = address;
        return VmxResult.Succeed;
    }

    /// <summary>
    /// L1 executes VMXOFF (KVM's handle_vmxoff → free_nested): the current vmcs12 is dropped without being written back
    /// (the SDM leaves its memory undefined), shadowing goes off, and every VMX instruction but VMXON is #UD until VMXON.
    /// </summary>
    public VmxResult L1VmxOff()
    {
        RequireL1();
        _box.Counts.ExitsOther++;
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        DisableShadowing();
        _current = InvalidPointer;
        _needShadowSync = false;
        _rareStale = false;
        _vmxon = InvalidPointer;
        return VmxResult.Succeed;
    }

    /// <summary>
    /// What VMPTRLD and VMCLEAR both check of their operand, in this order (KVM's handle_vmptrld and handle_vmclear): #UD
    /// outside VMX operation, VMfail(<paramref name="invalidAddress"/>) for a misaligned or too-wide address,
    /// VMfail(<paramref name="vmxonPointer"/>) for the VMXON region; null when the instruction goes on.
    /// </summary>
    private VmxResult? CheckVmcsPointer(ulong address, VmxInstructionError invalidAddress, VmxInstructionError vmxonPointer)
    {
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (!ValidL1Address(address))
        {
            return VmFail(invalidAddress);
        }

        return address == _vmxon ? VmFail(vmxonPointer) : null;
    }
}
