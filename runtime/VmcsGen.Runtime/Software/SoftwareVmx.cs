using System;
using System.Collections.Generic;

namespace VmcsGen.Software;

/// <summary>
/// A software VMX processor: one logical processor's VMX instructions as the SDM describes them (Vol. 3C ch. 24-26 and
/// 31), or as KVM emulates them for L1 (<see cref="VmxProfile.Kvm"/>). Two layers:
/// <list type="bullet">
/// <item>The instruction layer, <c>Execute…</c>: VMXON, VMXOFF, VMPTRLD, VMPTRST, VMCLEAR, VMREAD, VMWRITE, VMLAUNCH,
/// VMRESUME in a <see cref="VmxContext"/> (mode, CPL, MOV-SS blocking), in or out of VMX operation, root or non-root,
/// with register or memory operands that can fault, checked in the SDM's order; every result is a
/// <see cref="InstructionOutcome"/> (VMsucceed, VMfail, #UD/#GP/#PF, a VM exit, a VM-entry failure), never a thrown exception.</item>
/// <item>The VMM's fast path (<see cref="VmRead"/>, <see cref="VmWrite"/>, <see cref="VmPtrLd"/>, <see cref="VmClear"/>,
/// <see cref="VmLaunch"/>, <see cref="VmResume"/>): the same instructions executed in VMX root operation, 64-bit mode,
/// CPL 0, register operands, returning <see cref="VmxResult"/> and allocating nothing; and
/// <see cref="NonRootVmRead"/>/<see cref="NonRootVmWrite"/>, the guest's VMREAD/VMWRITE on the current (working) VMCS:
/// "VMCS shadowing", the VMREAD/VMWRITE bitmaps in memory and the link pointer decide between a shadow access and a VM exit.</item>
/// </list>
/// VMCS regions are bytes in <see cref="Memory"/>: VMPTRLD reads the revision identifier and shadow-VMCS indicator from the
/// region's first dword and loads an inactive region's data; VMCLEAR writes the data and a clear launch state back.
/// The data format after the header is this model's own (as the SDM leaves it to the implementation): the launch state
/// at byte 8, then every catalog field packed at its width (2, 4 or 8 bytes) from byte 16, in encoding order, so the
/// whole VMCS fits the region size IA32_VMX_BASIC reports (<see cref="RegionSize"/>). Every instruction is counted, in total and per field.
/// </summary>
public sealed class SoftwareVmx
{
    /// <summary>The "no current VMCS" pointer value.</summary>
    public const ulong InvalidPointer = ulong.MaxValue;

    public const int LaunchStateOffset = 8;
    public const int FieldsOffset = 16;

    private const uint VmInstructionErrorEncoding = VmcsEncoding.VmInstructionError, ExitReasonEncoding = VmcsEncoding.ExitReason, ExitQualificationEncoding = VmcsEncoding.ExitQualification,
        ExitInstructionLengthEncoding = 0x440C, InstructionInfoEncoding = 0x440E, LinkPointerEncoding = VmcsEncoding.VmcsLinkPointer,
        ProcBasedEncoding = 0x4002, SecondaryEncoding = 0x401E, VmreadBitmapEncoding = 0x2026, VmwriteBitmapEncoding = 0x2028;

    private readonly Dictionary<ulong, Region> _regions = new();
    private readonly int[] _layoutOffsets;
    private readonly int[] _layoutSizes;
    private readonly byte[] _layoutBuffer;
    private readonly long[] _readsPerSlot;
    private readonly long[] _writesPerSlot;
    private readonly int _linkSlot, _errorSlot, _procSlot, _secondarySlot, _vmreadBitmapSlot, _vmwriteBitmapSlot;
    private Region? _current;
    private long _reads, _writes, _ptrlds, _clears, _entries;

    /// <summary>A processor with KVM's emulated VMX (<see cref="VmxProfile.Kvm"/>), in VMX root operation.</summary>
    public SoftwareVmx()
        : this(VmxProfile.Kvm)
    {
    }

    /// <param name="profile">What the processor answers from.</param>
    /// <param name="operation">Where it starts: outside VMX operation (VMXON first) or in VMX root operation.</param>
    /// <param name="vmxonPointer">The VMXON region when starting in VMX root operation.</param>
    /// <param name="memory">Guest-physical memory (a new one by default).</param>
    public SoftwareVmx(VmxProfile profile, VmxOperation operation = VmxOperation.Root, ulong vmxonPointer = 0x1000, PhysicalMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.PhysicalAddressWidth is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(profile), profile.PhysicalAddressWidth, "MAXPHYADDR is 32 to 52 bits.");
        }

        if (profile.Revision > 0x7FFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(profile), $"0x{profile.Revision:X8}", "A VMCS revision identifier has 31 bits.");
        }

        // The region's data: each field packed at its width (2, 4 or 8 bytes) from FieldsOffset, so a region copied by the
        // size IA32_VMX_BASIC reports (bits 44:32) carries every field.
        var catalog = profile.Catalog;
        _layoutOffsets = new int[catalog.Count];
        _layoutSizes = new int[catalog.Count];
        var offset = 0;
        for (uint e = 0; e < 0x8000; e += 2)
        {
            if (catalog.SlotOf(e) is var slot and >= 0)
            {
                _layoutOffsets[slot] = offset;
                _layoutSizes[slot] = VmcsEncoding.Width(e) switch { FieldWidth.Bits16 => 2, FieldWidth.Bits32 => 4, _ => 8 };
                offset += _layoutSizes[slot];
            }
        }

        var regionSize = (int)((profile.ReadMsr(VmxMsr.Basic) >> 32) & 0x1FFF);
        RegionSize = regionSize == 0 ? 4096 : regionSize;
        if (FieldsOffset + offset > RegionSize)
        {
            throw new ArgumentException(
                $"{catalog.Count} fields ({FieldsOffset + offset} bytes with the header) do not fit the {RegionSize}-byte VMCS region IA32_VMX_BASIC reports.", nameof(profile));
        }

        _layoutBuffer = new byte[offset];

        Profile = profile;
        Memory = memory ?? new PhysicalMemory();
        Operation = operation == VmxOperation.NonRoot ? VmxOperation.Root : operation;
        VmxonPointer = operation == VmxOperation.Outside ? InvalidPointer : vmxonPointer;
        _readsPerSlot = new long[Catalog.Count * 2];
        _writesPerSlot = new long[Catalog.Count * 2];
        _linkSlot = Catalog.SlotOf(LinkPointerEncoding);
        _errorSlot = Catalog.SlotOf(VmInstructionErrorEncoding);
        _procSlot = Catalog.SlotOf(ProcBasedEncoding);
        _secondarySlot = Catalog.SlotOf(SecondaryEncoding);
        _vmreadBitmapSlot = Catalog.SlotOf(VmreadBitmapEncoding);
        _vmwriteBitmapSlot = Catalog.SlotOf(VmwriteBitmapEncoding);
    }

    /// <summary>
    /// A processor described field by field (no VM-entry checks: a VMCS store with the SDM's instruction semantics). Turning
    /// VMCS shadowing off removes the VMREAD/VMWRITE-bitmap fields, as on a CPU without it.
    /// </summary>
    public SoftwareVmx(
        VmcsFieldCatalog? catalog = null,
        uint revision = 0x11e57ed0,
        bool vmwriteAny = true,
        bool vmcsShadowing = true,
        int physicalAddressWidth = 46,
        ulong vmxonPointer = 0x1000)
        : this(Custom(catalog, revision, vmwriteAny, vmcsShadowing, physicalAddressWidth), VmxOperation.Root, vmxonPointer)
    {
    }

    private static VmxProfile Custom(VmcsFieldCatalog? catalog, uint revision, bool vmwriteAny, bool vmcsShadowing, int physicalAddressWidth)
    {
        if (physicalAddressWidth is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalAddressWidth), physicalAddressWidth, "MAXPHYADDR is 32 to 52 bits.");
        }

        if (revision > 0x7FFF_FFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(revision), $"0x{revision:X8}", "A VMCS revision identifier has 31 bits.");
        }

        catalog ??= VmcsFieldCatalog.AllKnown;
        return new VmxProfile
        {
            Name = "custom",
            Catalog = vmcsShadowing ? catalog : catalog.Without(VmreadBitmapEncoding, VmwriteBitmapEncoding),
            Revision = revision,
            VmwriteAny = vmwriteAny,
            VmcsShadowing = vmcsShadowing,
            PhysicalAddressWidth = physicalAddressWidth,
            Msrs = VmxProfile.ReferenceCpu,
            MiscBase = VmxProfile.ReferenceCpu[VmxMsr.Misc] & ~((1ul << 29) | (0x1FFul << 16)),
            EntryChecks = false,
        };
    }

    public VmxProfile Profile { get; }

    /// <summary>The VMCS region size (IA32_VMX_BASIC bits 44:32; 4096 when it reports none): the header, the launch state and every field fit in it.</summary>
    public int RegionSize { get; }

    public PhysicalMemory Memory { get; }

    public VmcsFieldCatalog Catalog => Profile.Catalog;

    public uint Revision => Profile.Revision;

    public bool VmwriteAny => Profile.VmwriteAny;

    public bool VmcsShadowing => Profile.VmcsShadowing;

    public int PhysicalAddressWidth => Profile.PhysicalAddressWidth;

    /// <summary>Outside VMX operation, root, or non-root (a guest runs on the current VMCS).</summary>
    public VmxOperation Operation { get; private set; }

    /// <summary>The VMXON region's address, which VMPTRLD and VMCLEAR refuse; <see cref="InvalidPointer"/> outside VMX operation.</summary>
    public ulong VmxonPointer { get; private set; }

    /// <summary>The current-VMCS pointer, or <see cref="InvalidPointer"/>.</summary>
    public ulong CurrentPointer => _current?.Address ?? InvalidPointer;

    public VmcsCounters Counters => new(_reads, _writes, _ptrlds, _clears, _entries);

    /// <summary>The struct handle the engine and the generated copy loops are generic over.</summary>
    public SoftwareVmcs Vmcs => new(this);

    /// <summary>Guest VMREADs served from a shadow VMCS without a VM exit.</summary>
    public long GuestVmReads { get; private set; }

    /// <summary>Guest VMWRITEs served into a shadow VMCS without a VM exit.</summary>
    public long GuestVmWrites { get; private set; }

    /// <summary>RDMSR of an IA32_VMX_* capability MSR, from the profile (consistent with the catalog).</summary>
    public ulong ReadMsr(uint index) => Profile.ReadMsr(index);

    /// <summary>VMREADs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long ReadsOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _readsPerSlot[i] : 0;

    /// <summary>VMWRITEs of this encoding (full and _HIGH forms count apart); 0 for an encoding the catalog lacks.</summary>
    public long WritesOf(uint encoding) => CounterIndex(encoding) is var i and >= 0 ? _writesPerSlot[i] : 0;

    /// <summary>Zeroes every counter (total and per field).</summary>
    public void ResetCounters()
    {
        Array.Clear(_readsPerSlot);
        Array.Clear(_writesPerSlot);
        _reads = _writes = _ptrlds = _clears = _entries = 0;
        GuestVmReads = GuestVmWrites = 0;
    }

    /// <summary>
    /// Prepares a VMCS region in memory as software does before VMPTRLD: zeroed, with a revision identifier (this CPU's
    /// unless given) and the shadow-VMCS indicator. Not a VMX instruction; not counted.
    /// </summary>
    public void CreateRegion(ulong address, bool shadow = false, uint? revision = null)
    {
        if (_regions.ContainsKey(address))
        {
            throw new InvalidOperationException($"A VMCS region already exists at 0x{address:X}.");
        }

        Memory.Write(address, new byte[4096]);
        Memory.WriteUInt32(address, (revision ?? Revision) | (shadow ? 0x8000_0000u : 0));
        _regions[address] = new Region(address, Catalog.Count) { Active = false };
    }

    /// <summary>Whether the region at <paramref name="address"/> is in the launched state (after VMLAUNCH, before VMCLEAR).</summary>
    public bool IsLaunched(ulong address) =>
        _regions.TryGetValue(address, out var region) && region.Active ? region.Launched : Memory.ReadUInt32(address + LaunchStateOffset) != 0;

    /// <summary>Reads a field of any region without an instruction (a debugger's view): not counted, no checks but the catalog.</summary>
    public ulong Peek(ulong address, uint encoding)
    {
        if (!Catalog.Supports(encoding))
        {
            throw new ArgumentOutOfRangeException(nameof(encoding), $"0x{encoding:X4}", "The field catalog does not support this encoding.");
        }

        if (!_regions.TryGetValue(address, out var region))
        {
            throw new ArgumentException($"No VMCS region at 0x{address:X}.", nameof(address));
        }

        var slot = Catalog.SlotOf(encoding);
        var raw = region.Active ? region.Fields[slot] : ReadPacked(address, slot);
        return LoadSlot(raw, encoding);
    }

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
    /// <exception cref="InvalidOperationException">The guest state failed the checks (a VM-entry failure, which this path cannot return; use <see cref="ExecuteVmlaunch"/>).</exception>
    public VmxResult VmLaunch() => FastEntry(launch: true);

    /// <summary>VMRESUME's checks, as <see cref="VmLaunch"/>.</summary>
    public VmxResult VmResume() => FastEntry(launch: false);

    private VmxResult FastEntry(bool launch)
    {
        var outcome = Enter(launch, default);
        return outcome.Result ?? throw new InvalidOperationException($"VM{(launch ? "LAUNCH" : "RESUME")} on 0x{CurrentPointer:X}: {outcome}");
    }

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
        if (Preamble(context, VmxExitReason.VmPtrLd, pointer, memoryOnly: true) is { } early)
        {
            return early;
        }

        if (Memory.Faults(pointer.Address, 8))
        {
            return InstructionOutcome.PageFault(0);
        }

        _ptrlds++;
        return Outcome(PtrLd(Memory.ReadUInt64(pointer.Address)));
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
        if (Preamble(context, VmxExitReason.VmClear, pointer, memoryOnly: true) is { } early)
        {
            return early;
        }

        if (Memory.Faults(pointer.Address, 8))
        {
            return InstructionOutcome.PageFault(0);
        }

        _clears++;
        return Outcome(Clear(Memory.ReadUInt64(pointer.Address)));
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
        if (AccessChecks(context, encodingRegister, destination, VmxExitReason.VmRead, _vmreadBitmapSlot, ref _reads, out var encoding, out var nonRoot) is { } early)
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
        if (AccessChecks(context, encodingRegister, source, VmxExitReason.VmWrite, _vmwriteBitmapSlot, ref _writes, out var encoding, out var nonRoot) is { } early)
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

    /// <summary>VMLAUNCH: on success the processor is in VMX non-root operation on the current VMCS.</summary>
    public InstructionOutcome ExecuteVmlaunch(VmxContext context) => ExecuteEntry(context, launch: true);

    /// <summary>VMRESUME: as <see cref="ExecuteVmlaunch"/> for a launched VMCS.</summary>
    public InstructionOutcome ExecuteVmresume(VmxContext context) => ExecuteEntry(context, launch: false);

    /// <summary>
    /// The guest exits for a reason of its own (an external interrupt, CPUID…): the exit information goes into the
    /// working VMCS and the processor returns to VMX root operation.
    /// </summary>
    public void VmExit(uint reason, ulong qualification = 0)
    {
        if (Operation != VmxOperation.NonRoot || _current is null)
        {
            throw new InvalidOperationException("VmExit: no guest is running (VMX non-root operation starts at a successful VMLAUNCH/VMRESUME).");
        }

        RecordExit(reason, qualification, 0);
    }

    private InstructionOutcome ExecuteEntry(VmxContext context, bool launch)
    {
        if (Invalid(context))
        {
            return InstructionOutcome.InvalidOpcode;
        }

        if (Operation == VmxOperation.NonRoot)
        {
            return ExitFor(launch ? VmxExitReason.VmLaunch : VmxExitReason.VmResume, 0, 0);
        }

        if (context.Cpl > 0)
        {
            return InstructionOutcome.GeneralProtection;
        }

        var outcome = Enter(launch, context);
        if (outcome.Kind == InstructionOutcomeKind.Succeed)
        {
            Operation = VmxOperation.NonRoot;
        }

        return outcome;
    }

    /// <summary>The checks of VMLAUNCH/VMRESUME after #UD/#GP, in the SDM's order.</summary>
    private InstructionOutcome Enter(bool launch, VmxContext context)
    {
        _entries++;
        if (_current is null || _current.ShadowIndicator)
        {
            return InstructionOutcome.FailInvalid;
        }

        if (context.BlockingByMovSs)
        {
            return FailOutcome(VmxInstructionError.EntryEventsBlockedByMovSs);
        }

        if (launch && _current.Launched)
        {
            return FailOutcome(VmxInstructionError.VmlaunchNonClearVmcs);
        }

        if (!launch && !_current.Launched)
        {
            return FailOutcome(VmxInstructionError.VmresumeNonLaunchedVmcs);
        }

        if (Profile.EntryChecks)
        {
            var reader = new RegionReader(this, _current);
            var check = VmEntryChecks.Controls(ref reader, Profile);
            if (check.Passed)
            {
                check = VmEntryChecks.Host(ref reader, Profile, context.Mode is CpuMode.Long64 or CpuMode.Compatibility);
            }

            if (!check.Passed)
            {
                return FailOutcome(check.Error, check.Rule);
            }

            check = VmEntryChecks.Guest(ref reader, Profile, Memory);
            if (!check.Passed)
            {
                // SDM 26.8: a VM-entry failure is a VM exit with the entry-failure bit; the VMCS stays as it was (not launched).
                var reason = VmxExitReason.InvalidGuestState | VmxExitReason.EntryFailureBit;
                Store(_current, ExitReasonEncoding, reason);
                Store(_current, ExitQualificationEncoding, check.Qualification);
                return new InstructionOutcome(InstructionOutcomeKind.EntryFailure, ExitReason: reason, ExitQualification: check.Qualification, Rule: check.Rule);
            }
        }

        if (launch)
        {
            _current.Launched = true;
        }

        return InstructionOutcome.Succeed();
    }

    // ---------------------------------------------------------------------------------------------------------------

    private VmxResult PtrLd(ulong address)
    {
        if (!IsValidAddress(address))
        {
            return Fail(VmxInstructionError.VmptrldInvalidAddress);
        }

        if (address == VmxonPointer)
        {
            return Fail(VmxInstructionError.VmptrldVmxonPointer);
        }

        if (!_regions.TryGetValue(address, out var region) || !region.Active)
        {
            var header = Memory.ReadUInt32(address);
            if ((header & 0x7FFF_FFFF) != Revision || ((header & 0x8000_0000) != 0 && !VmcsShadowing))
            {
                return Fail(VmxInstructionError.VmptrldIncorrectVmcsRevisionId);
            }

            region = Activate(address, header);
        }

        _current = region;
        return VmxResult.Succeed;
    }

    private VmxResult Clear(ulong address)
    {
        if (!IsValidAddress(address))
        {
            return Fail(VmxInstructionError.VmclearInvalidAddress);
        }

        if (address == VmxonPointer)
        {
            return Fail(VmxInstructionError.VmclearVmxonPointer);
        }

        if (_regions.TryGetValue(address, out var region) && region.Active)
        {
            // Write the VMCS data back to its region, clear the launch state, and forget the cached copy.
            WriteBack(region);
            region.Active = false;
        }

        Memory.WriteUInt32(address + LaunchStateOffset, 0);
        if (region is not null)
        {
            region.Launched = false;
        }

        if (_current?.Address == address)
        {
            _current = null;
        }

        return VmxResult.Succeed;
    }

    /// <summary>Makes a region active: its data read from memory into the processor's copy (no allocation after the first time).</summary>
    private Region Activate(ulong address, uint header)
    {
        if (!_regions.TryGetValue(address, out var region))
        {
            region = new Region(address, Catalog.Count);
            _regions[address] = region;
        }

        Memory.Read(address + FieldsOffset, _layoutBuffer);
        for (var slot = 0; slot < region.Fields.Length; slot++)
        {
            region.Fields[slot] = Unpack(_layoutBuffer.AsSpan(_layoutOffsets[slot], _layoutSizes[slot]));
        }

        region.Launched = Memory.ReadUInt32(address + LaunchStateOffset) != 0;
        region.ShadowIndicator = (header & 0x8000_0000) != 0;
        region.Active = true;
        return region;
    }

    /// <summary>Writes a region's fields to its memory in the packed layout (VMCLEAR).</summary>
    private void WriteBack(Region region)
    {
        Span<byte> value = stackalloc byte[8];
        for (var slot = 0; slot < region.Fields.Length; slot++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(value, region.Fields[slot]);
            value[.._layoutSizes[slot]].CopyTo(_layoutBuffer.AsSpan(_layoutOffsets[slot]));
        }

        Memory.Write(region.Address + FieldsOffset, _layoutBuffer);
    }

    private ulong ReadPacked(ulong address, int slot)
    {
        Span<byte> bytes = stackalloc byte[8];
        Memory.Read(address + FieldsOffset + (ulong)_layoutOffsets[slot], bytes[.._layoutSizes[slot]]);
        return Unpack(bytes[.._layoutSizes[slot]]);
    }

    private static ulong Unpack(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        2 => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes),
        4 => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        _ => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes),
    };

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

    /// <summary>A VM exit of the guest's instruction: exit information into the working VMCS, back to VMX root operation.</summary>
    private InstructionOutcome ExitFor(uint reason, ulong qualification, uint instructionInfo)
    {
        if (_current is not null && Operation == VmxOperation.NonRoot)
        {
            RecordExit(reason, qualification, instructionInfo);
        }

        return new InstructionOutcome(InstructionOutcomeKind.VmExit, ExitReason: reason, ExitQualification: qualification, InstructionInformation: instructionInfo);
    }

    private void RecordExit(uint reason, ulong qualification, uint instructionInfo)
    {
        Store(_current!, ExitReasonEncoding, reason);
        Store(_current!, ExitQualificationEncoding, qualification);
        Store(_current!, InstructionInfoEncoding, instructionInfo);
        Store(_current!, ExitInstructionLengthEncoding, 3);
        Operation = VmxOperation.Root;
    }

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

    /// <summary>VMfail(n): VMfailValid with n in the current VMCS's VM-instruction error field, VMfailInvalid without one (SDM 31.2).</summary>
    private VmxResult Fail(VmxInstructionError error)
    {
        if (_current is null)
        {
            return VmxResult.FailInvalid;
        }

        if (_errorSlot >= 0)
        {
            _current.Fields[_errorSlot] = (uint)error;
        }

        return VmxResult.FailValid(error);
    }

    private ulong MaskAccessRights(uint encoding, ulong value) =>
        Profile.AccessRightsWriteMask != 0xFFFF_FFFF && VmcsEncoding.IsSegmentAccessRights(encoding) ? value & Profile.AccessRightsWriteMask : value;

    private int CountRead(uint encoding)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _readsPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        return slot;
    }

    private int CountWrite(uint encoding)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            _writesPerSlot[(slot * 2) + (int)(encoding & 1)]++;
        }

        return slot;
    }

    private int CounterIndex(uint encoding) => Catalog.SlotOf(encoding) is var slot and >= 0 ? (slot * 2) + (int)(encoding & 1) : -1;

    private bool IsValidAddress(ulong address) => (address & 0xFFF) == 0 && (address >> PhysicalAddressWidth) == 0;

    private void Store(Region region, uint encoding, ulong value)
    {
        var slot = Catalog.SlotOf(encoding);
        if (slot >= 0)
        {
            StoreSlot(ref region.Fields[slot], encoding, value);
        }
    }

    /// <summary>VMREAD's view of a field's 64-bit slot: a _HIGH access reads bits 63:32; otherwise zero-extended by width.</summary>
    private static ulong LoadSlot(ulong slot, uint encoding) =>
        VmcsEncoding.IsHighAccess(encoding) ? slot >> 32 : slot & VmcsEncoding.AccessMask(encoding);

    /// <summary>VMWRITE into a slot: a _HIGH access replaces bits 63:32; otherwise truncated to the width.</summary>
    private static void StoreSlot(ref ulong slot, uint encoding, ulong value) =>
        slot = VmcsEncoding.IsHighAccess(encoding)
            ? (slot & 0xFFFF_FFFFul) | ((value & 0xFFFF_FFFFul) << 32)
            : value & VmcsEncoding.AccessMask(encoding);

    private readonly struct RegionReader(SoftwareVmx cpu, Region region) : IVmcsFieldReader
    {
        public ulong Read(uint encoding) => cpu.Catalog.SlotOf(encoding) is var slot and >= 0 ? LoadSlot(region.Fields[slot], encoding) : 0;
    }

    private sealed class Region(ulong address, int fields)
    {
        public ulong Address { get; } = address;

        public bool ShadowIndicator { get; set; }

        public bool Launched { get; set; }

        /// <summary>Loaded by VMPTRLD (the processor's copy is authoritative) until VMCLEAR writes it back.</summary>
        public bool Active { get; set; }

        /// <summary>One 64-bit slot per field of the catalog (<see cref="VmcsFieldCatalog.SlotOf"/>); a _HIGH access uses the upper half.</summary>
        public ulong[] Fields { get; } = new ulong[fields];
    }
}
