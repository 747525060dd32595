using System;
using System.Collections.Generic;

namespace VmcsGen.Nested;

/// <summary>
/// The oracle: nested VMX with no optimisation at all, written without the generated copy code. Every L1 VMREAD/VMWRITE
/// is emulated against vmcs12; every entry copies every control and guest-state field of vmcs12 into vmcs02; every exit
/// copies every guest-state and exit-information field back. For any sequence of events it must give L1 the same values
/// and outcomes as <see cref="NestedVmx{TLayout, TControls, TBackend}"/>, and the same vmcs12 bytes. This file holds L1's
/// instructions outside VMLAUNCH/VMRESUME; ReferenceNestedVmx.L2.cs the entries, the exits and the nested state. It shares
/// no code with the engine it checks.
/// </summary>
public sealed partial class ReferenceNestedVmx<TLayout, TControls, TBackend> : INestedEngine, IVmcs12Peek
    where TLayout : IVmcsLayout<TControls>
    where TControls : struct
    where TBackend : struct, INestedVmcs
{
    private const ulong InvalidPointer = ulong.MaxValue;
    private readonly byte[] _vmcs12 = new byte[TLayout.Size];
    private readonly List<VmcsFieldDescriptor> _toVmcs02 = new();
    private readonly List<VmcsFieldDescriptor> _fromVmcs02 = new();
    private readonly ulong _features;
    private readonly bool _vmwriteAny;
    private readonly NestedVmxOptions _options;
    private readonly ulong _vmcs02;
    private TBackend _cpu;
    private ulong _current = InvalidPointer;
    private ulong _vmxon;
    private bool _inL2;
    private bool _vmcs02Launched;

    public ReferenceNestedVmx(TBackend backend, ulong vmcs02, NestedVmxOptions? options = null)
    {
        _options = options ?? new NestedVmxOptions();
        _features = (_options.Features ?? TLayout.AllFeatures) & TLayout.AllFeatures;
        _vmwriteAny = _options.L1VmwriteAny ?? TLayout.VmwriteAny;
        _cpu = backend;
        _vmcs02 = vmcs02;
        _vmxon = _options.L1VmxonPointer;
        Memory = new L1Memory(TLayout.Size);
        foreach (var field in TLayout.Fields)
        {
            if (field.FeatureMask != 0 && (_features & field.FeatureMask) == 0)
            {
                continue;
            }

            if (field.Type is FieldType.Control or FieldType.GuestState)
            {
                _toVmcs02.Add(field);
            }

            // The CPU writes guest state and exit information on a VM exit; VM_INSTRUCTION_ERROR only on a VMfail. The VMCS
            // link pointer is guest state by encoding but no VM exit writes it, and vmcs02's is L0's own (-1).
            if ((field.Type is FieldType.GuestState && field.Encoding != VmcsEncoding.VmcsLinkPointer)
                || (field.Type is FieldType.ExitInformation && field.Encoding != VmcsEncoding.VmInstructionError))
            {
                _fromVmcs02.Add(field);
            }
        }
    }

    public L1Memory Memory { get; }

    public bool InL2 => _inL2;

    /// <summary>The current vmcs12's field as the reference holds it (always up to date: it has no lazy state).</summary>
    public bool TryPeekVmcs12(uint encoding, out ulong value)
    {
        value = 0;
        return _current != InvalidPointer && TLayout.TryGetField(encoding, out _) && TLayout.Read(_vmcs12, encoding, out value).IsSuccess;
    }

    public VmxResult L1VmRead(ulong encoding, out ulong value)
    {
        RequireL1();
        value = 0;
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
        }

        return Known(encoding) ? TLayout.Read(_vmcs12, (uint)encoding, out value) : VmFail(VmxInstructionError.UnsupportedVmcsComponent);
    }

    public VmxResult L1VmWrite(ulong encoding, ulong value)
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

        if (!Known(encoding))
        {
            return VmFail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type((uint)encoding) == FieldType.ExitInformation && !_vmwriteAny)
        {
            return VmFail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        // L0 masks guest segment access rights as the CPU would (ES..TR AR bytes).
        var masked = VmcsEncoding.IsSegmentAccessRights((uint)encoding) ? value & VmcsEncoding.SegmentAccessRightsMask : value;
        return TLayout.Write(_vmcs12, (uint)encoding, masked);
    }

    public VmxResult L1VmPtrSt(out ulong pointer)
    {
        RequireL1();
        pointer = _vmxon == InvalidPointer ? 0 : _current;
        return _vmxon == InvalidPointer ? VmxResult.InvalidOpcode : VmxResult.Succeed;
    }

    public VmxResult L1VmxOn(ulong address)
    {
        RequireL1();
        if (_vmxon != InvalidPointer)
        {
            return VmFail(VmxInstructionError.VmxonInVmxRootOperation);
        }

        if (BadAddress(address) || !Memory.TryGet(address, out var region) || BitConverter.ToUInt32(region, 0) != TLayout.Revision)
        {
            return VmxResult.FailInvalid;
        }

        _vmxon = address;
        return VmxResult.Succeed;
    }

    public VmxResult L1VmxOff()
    {
        RequireL1();
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        _current = InvalidPointer; // dropped, not written back
        _vmxon = InvalidPointer;
        return VmxResult.Succeed;
    }

    public VmxResult L1VmPtrLd(ulong address)
    {
        RequireL1();
        if (PointerFault(address, VmxInstructionError.VmptrldInvalidAddress, VmxInstructionError.VmptrldVmxonPointer) is { } fault)
        {
            return fault;
        }

        if (!Memory.TryGet(address, out var image) || (BitConverter.ToUInt32(image, 0) & 0x7FFF_FFFF) != TLayout.Revision
            || ((BitConverter.ToUInt32(image, 0) & 0x8000_0000) != 0 && !_options.L1VmcsShadowing))
        {
            return VmFail(VmxInstructionError.VmptrldIncorrectVmcsRevisionId);
        }

        if (address != _current)
        {
            WriteBack();
            Array.Copy(image, _vmcs12, _vmcs12.Length);
            _current = address;
        }

        return VmxResult.Succeed;
    }

    public VmxResult L1VmClear(ulong address)
    {
        RequireL1();
        if (PointerFault(address, VmxInstructionError.VmclearInvalidAddress, VmxInstructionError.VmclearVmxonPointer) is { } fault)
        {
            return fault;
        }

        if (address == _current)
        {
            WriteBack();
            _current = InvalidPointer;
        }

        if (Memory.TryGet(address, out var image))
        {
            Array.Clear(image, 8, 4);
        }

        return VmxResult.Succeed;
    }

    private void WriteBack()
    {
        if (_current != InvalidPointer && Memory.TryGet(_current, out var image))
        {
            Array.Copy(_vmcs12, image, _vmcs12.Length);
        }
    }

    private bool Known(ulong encoding) =>
        encoding < 0x8000 && TLayout.TryGetField((uint)encoding, out var field) && (field.FeatureMask == 0 || (_features & field.FeatureMask) != 0);

    private bool BadAddress(ulong address) => address % 4096 != 0 || address >= 1ul << _options.L1PhysicalAddressWidth;

    /// <summary>VMPTRLD's or VMCLEAR's operand refused: #UD outside VMX operation, VMfail for a bad address, then for the VMXON region.</summary>
    private VmxResult? PointerFault(ulong address, VmxInstructionError badAddress, VmxInstructionError vmxonRegion) =>
        _vmxon == InvalidPointer ? VmxResult.InvalidOpcode
        : BadAddress(address) ? VmFail(badAddress)
        : address == _vmxon ? VmFail(vmxonRegion)
        : null;

    private VmxResult VmFail(VmxInstructionError error)
    {
        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
        }

        TLayout.Write(_vmcs12, VmcsEncoding.VmInstructionError, (ulong)error); // if the layout has it
        return VmxResult.FailValid(error);
    }

    private void RequireL1()
    {
        if (_inL2)
        {
            throw new InvalidOperationException("An L1 instruction while L2 runs.");
        }
    }

    private static void Check(VmxResult result)
    {
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"{TLayout.Name} reference engine: the backend failed with {result}.");
        }
    }
}
