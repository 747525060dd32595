namespace VmcsGen.Software;

public sealed partial class SoftwareVmx
{
    // ---------------------------------------------------------------------------------------------------------------
    // The instruction layer: the SDM's checks in the SDM's order (Vol. 3C ch. 31 pseudo-code; Bochs cpu/vmx.cc agrees).
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>VMXON m64: enters VMX root operation with the VMXON region the operand points to.</summary>
    public InstructionOutcome ExecuteVmxon(VmxContext context, VmxOperand pointer, bool cr4Vmxe = true, bool featureControlAllows = true)
    {
        if (!pointer.IsMemory || !cr4Vmxe || context.Mode is CpuMode.Real or CpuMode.Virtual8086 or CpuMode.Compatibility)
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (Operation == VmxOperation.Outside)
        {
            if (context.Cpl > 0 || !featureControlAllows)
            {
                return InstructionOutcome.GeneralProtection;
            }

            if (Memory.Faults(pointer.Address, 8))
            {
                return InstructionOutcome.PageFault(0);
            }

            var address = Memory.ReadUInt64(pointer.Address);
            if (!IsValidAddress(address))
            {
                return InstructionOutcome.FailInvalid;
            }

            var header = Memory.ReadUInt32(address);
            if ((header & 0x7FFF_FFFF) != Revision || (header & 0x8000_0000) != 0)
            {
                return InstructionOutcome.FailInvalid;
            }

            Operation = VmxOperation.Root;
            VmxonPointer = address;
            _current = null;
            return InstructionOutcome.Succeed();
        }

        if (Operation == VmxOperation.NonRoot)
        {
            return ExitFor(VmxExitReason.VmxOn, pointer.Address, MemoryInfo(context));
        }

        return context.Cpl > 0 ? InstructionOutcome.GeneralProtection : FailOutcome(VmxInstructionError.VmxonInVmxRootOperation);
    }

    /// <summary>VMXOFF: leaves VMX operation.</summary>
    public InstructionOutcome ExecuteVmxoff(VmxContext context)
    {
        if (Operation == VmxOperation.Outside || context.Mode is CpuMode.Virtual8086 or CpuMode.Compatibility or CpuMode.Real)
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (Operation == VmxOperation.NonRoot)
        {
            return ExitFor(VmxExitReason.VmxOff, 0, 0);
        }

        if (context.Cpl > 0)
        {
            return InstructionOutcome.GeneralProtection;
        }

        Operation = VmxOperation.Outside;
        VmxonPointer = InvalidPointer;
        _current = null;
        return InstructionOutcome.Succeed();
    }

    /// <summary>VMPTRLD m64.</summary>
    public InstructionOutcome ExecuteVmptrld(VmxContext context, VmxOperand pointer)
    {
        if (PointerOperand(context, VmxExitReason.VmPtrLd, pointer, out var address) is { } early)
        {
            return early;
        }

        _ptrlds++;
        return Outcome(PtrLd(address));
    }

    /// <summary>VMPTRST m64: stores the current-VMCS pointer (-1 when none).</summary>
    public InstructionOutcome ExecuteVmptrst(VmxContext context, VmxOperand destination)
    {
        if (Preamble(context, VmxExitReason.VmPtrSt, destination, memoryOnly: true) is { } early)
        {
            return early;
        }

        if (Memory.Faults(destination.Address, 8))
        {
            return InstructionOutcome.PageFault(2);
        }

        Memory.WriteUInt64(destination.Address, CurrentPointer);
        return InstructionOutcome.Succeed(CurrentPointer);
    }

    /// <summary>VMCLEAR m64.</summary>
    public InstructionOutcome ExecuteVmclear(VmxContext context, VmxOperand pointer)
    {
        if (PointerOperand(context, VmxExitReason.VmClear, pointer, out var address) is { } early)
        {
            return early;
        }

        _clears++;
        return Outcome(Clear(address));
    }

    /// <summary>
    /// VMPTRLD's and VMCLEAR's operand checks, in the SDM's order: #UD (a register operand included), the VM exit in
    /// non-root operation, #GP(0) at CPL > 0, then the #PF of reading the m64 operand. Null, with the pointer read from
    /// memory, when the instruction goes on to its pointer checks.
    /// </summary>
    private InstructionOutcome? PointerOperand(VmxContext context, uint exitReason, VmxOperand pointer, out ulong address)
    {
        address = 0;
        if (Preamble(context, exitReason, pointer, memoryOnly: true) is { } early)
        {
            return early;
        }

        if (Memory.Faults(pointer.Address, 8))
        {
            return InstructionOutcome.PageFault(0);
        }

        address = Memory.ReadUInt64(pointer.Address);
        return null;
    }

    /// <summary>
    /// VMREAD's and VMWRITE's shared checks, in the SDM's order: #UD, the VM exit in non-root operation (bitmap or bits
    /// above 14), #GP(0) at CPL > 0, then (counted as an access) VMfailInvalid without a current VMCS or, in non-root
    /// operation, without a linked shadow VMCS. Null when the instruction goes on to the field checks.
    /// </summary>
    private InstructionOutcome? AccessChecks(VmxContext context, VmxOperand encodingRegister, VmxOperand operand, uint exitReason, int bitmapSlot,
        ref long accesses, out ulong encoding, out bool nonRoot)
    {
        encoding = context.Mode == CpuMode.Long64 ? encodingRegister.Value : (uint)encodingRegister.Value;
        nonRoot = Operation == VmxOperation.NonRoot;
        if (Invalid(context))
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (nonRoot && ExitsOnAccess(encoding, bitmapSlot))
        {
            return ExitFor(exitReason, operand.IsMemory ? operand.Address : 0, AccessInfo(context, encodingRegister, operand));
        }

        if (context.Cpl > 0)
        {
            return InstructionOutcome.GeneralProtection;
        }

        accesses++;
        return _current is null || (nonRoot && LinkedShadow() is null) ? InstructionOutcome.FailInvalid : null;
    }

    /// <summary>
    /// VMREAD r/m, reg: the encoding in <paramref name="encodingRegister"/> (its full width in 64-bit mode: bits 63:32
    /// set are an unsupported component), the value to a register (in <see cref="InstructionOutcome.Value"/>) or to memory,
    /// truncated to 32 bits outside 64-bit mode. In VMX non-root operation the processor decides shadow or VM exit.
    /// </summary>
    public InstructionOutcome ExecuteVmread(VmxContext context, VmxOperand encodingRegister, VmxOperand destination)
    {
        if (AccessChecks(context, encodingRegister, destination, VmxExitReason.VmRead, _vmreadBitmapSlot, ref _reads, out var encoding,
            out var nonRoot) is { } early)
        {
            return early;
        }

        var slot = encoding >> 32 == 0 ? CountRead((uint)encoding) : -1;
        if (slot < 0)
        {
            return FailOutcome(VmxInstructionError.UnsupportedVmcsComponent);
        }

        var region = nonRoot ? LinkedShadow()! : _current!; // AccessChecks passed: both exist
        var value = LoadSlot(region.Fields[slot], (uint)encoding);
        if (context.OperandBits == 32)
        {
            value &= 0xFFFF_FFFF;
        }

        if (destination.IsMemory)
        {
            if (Memory.Faults(destination.Address, context.OperandBits / 8))
            {
                return InstructionOutcome.PageFault(2);
            }

            if (context.OperandBits == 64)
            {
                Memory.WriteUInt64(destination.Address, value);
            }
            else
            {
                Memory.WriteUInt32(destination.Address, (uint)value);
            }
        }

        if (nonRoot)
        {
            GuestVmReads++;
        }

        return InstructionOutcome.Succeed(value);
    }

    /// <summary>
    /// VMWRITE reg, r/m: the encoding in <paramref name="encodingRegister"/>, the value from a register or memory (read
    /// after the VMfailInvalid check, so its #PF comes before the field checks), 32 bits outside 64-bit mode (a longer
    /// field's high bits are cleared). In VMX non-root operation the processor decides shadow or VM exit.
    /// </summary>
    public InstructionOutcome ExecuteVmwrite(VmxContext context, VmxOperand encodingRegister, VmxOperand source)
    {
        if (AccessChecks(context, encodingRegister, source, VmxExitReason.VmWrite, _vmwriteBitmapSlot, ref _writes, out var encoding,
            out var nonRoot) is { } early)
        {
            return early;
        }

        ulong value;
        if (source.IsMemory)
        {
            if (Memory.Faults(source.Address, context.OperandBits / 8))
            {
                return InstructionOutcome.PageFault(0);
            }

            value = context.OperandBits == 64 ? Memory.ReadUInt64(source.Address) : Memory.ReadUInt32(source.Address);
        }
        else
        {
            value = context.OperandBits == 64 ? source.Value : (uint)source.Value;
        }

        var slot = encoding >> 32 == 0 ? CountWrite((uint)encoding) : -1;
        if (slot < 0)
        {
            return FailOutcome(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (VmcsEncoding.Type((uint)encoding) == FieldType.ExitInformation && !VmwriteAny)
        {
            return FailOutcome(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

        var region = nonRoot ? LinkedShadow()! : _current!; // AccessChecks passed: both exist
        StoreSlot(ref region.Fields[slot], (uint)encoding, MaskAccessRights((uint)encoding, value));
        if (nonRoot)
        {
            GuestVmWrites++;
        }

        return InstructionOutcome.Succeed();
    }

    private InstructionOutcome? Preamble(VmxContext context, uint exitReason, VmxOperand operand, bool memoryOnly)
    {
        if ((memoryOnly && !operand.IsMemory) || Invalid(context))
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (Operation == VmxOperation.NonRoot)
        {
            return ExitFor(exitReason, operand.Address, MemoryInfo(context));
        }

        return context.Cpl > 0 ? InstructionOutcome.GeneralProtection : null;
    }

    private bool Invalid(VmxContext context) =>
        Operation == VmxOperation.Outside || context.Mode is CpuMode.Real or CpuMode.Virtual8086 or CpuMode.Compatibility;

    /// <summary>VM-exit instruction information for VMREAD/VMWRITE (SDM Table 28-13): reg2 = the encoding register; a register or a memory operand.</summary>
    private static uint AccessInfo(VmxContext context, VmxOperand encodingRegister, VmxOperand operand) =>
        operand.IsMemory
            ? MemoryInfo(context) | ((uint)encodingRegister.Register << 28)
            : RegisterInfo(encodingRegister.Register, operand.Register, context.OperandBits);

    private static uint RegisterInfo(Gpr encodingRegister, Gpr operand, int bits) =>
        ((uint)operand << 3) | (bits == 64 ? 2u << 7 : 1u << 7) | (1u << 10) | ((uint)encodingRegister << 28);

    /// <summary>A memory operand with a displacement only: address size, segment DS, index and base invalid.</summary>
    private static uint MemoryInfo(VmxContext context) => (context.OperandBits == 64 ? 2u << 7 : 1u << 7) | (3u << 15) | (1u << 22) | (1u << 27);

    private InstructionOutcome FailOutcome(VmxInstructionError error, string? rule = null) =>
        Fail(error).Outcome == VmxOutcome.FailInvalid ? InstructionOutcome.FailInvalid : InstructionOutcome.FailValid(error, rule);

    private static InstructionOutcome Outcome(VmxResult result) => result.Outcome switch
    {
        VmxOutcome.Succeed => InstructionOutcome.Succeed(),
        VmxOutcome.FailInvalid => InstructionOutcome.FailInvalid,
        _ => InstructionOutcome.FailValid(result.Error),
    };
}
