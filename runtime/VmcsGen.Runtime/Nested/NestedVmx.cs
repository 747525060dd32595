using System;
using System.Buffers.Binary;
using System.Collections.Generic;

// The equivalence tests compile these files a second time, with VMCSGEN_MUTANTS, as the mutant engine their planted bugs
// live in (tests/VmcsGen.Runtime.Tests/Mutants); the shipped engine has no trace of them.
#if VMCSGEN_MUTANTS
using VmcsGen.Nested;

namespace VmcsGen.Runtime.Tests.Mutants;
#else
namespace VmcsGen.Nested;
#endif

/// <summary>
/// L0's side of nested VMX for one L1 vCPU, over a backend processor with three VMCSes (vmcs01, vmcs02, the shadow VMCS)
/// and L1's vmcs12, moving fields only through the code generated from the manifest. It follows the manifest's classes:
/// shadowed accesses never reach L0; trapped ones are emulated against vmcs12; the vmcs12 → shadow sync waits until L1
/// runs; the rare set is marked stale on exit and synced on demand; a trapped VMWRITE syncs the rare set before it
/// dirties vmcs12; VMCLEAR, a switching VMPTRLD and <see cref="ExportNestedState"/> flush shadow and rare state first.
/// Every L1-visible outcome is a <see cref="VmxResult"/>; misuse of the API (an L1 instruction while L2 runs) throws.
/// This file holds the L1 and L2 events and the nested entry; NestedVmx.Sync.cs the shadow and rare-set state moves;
/// NestedVmx.Pre2019.cs KVM's behaviour before its 2019 series.
/// </summary>
/// <typeparam name="TLayout">The generated <c>Layout</c> of a manifest.</typeparam>
/// <typeparam name="TControls">That layout's <c>ControlShadows</c>.</typeparam>
/// <typeparam name="TBackend">The processor, e.g. <c>SoftwareVmcs</c>.</typeparam>
public sealed partial class NestedVmx<TLayout, TControls, TBackend> : INestedEngine, ICountedEngine
    where TLayout : IVmcsLayout<TControls>
    where TControls : struct
    where TBackend : struct, INestedVmcs
{
    public const ulong InvalidPointer = ulong.MaxValue;
    private const uint VmInstructionError = VmcsEncoding.VmInstructionError;
    private const uint VmcsLinkPointer = VmcsEncoding.VmcsLinkPointer;
    private const uint ExitReason = VmcsEncoding.ExitReason, ExitQualification = VmcsEncoding.ExitQualification;
    private const uint ProcBasedControls = 0x4002, SecondaryControls = 0x401E, VmreadBitmap = 0x2026, VmwriteBitmap = 0x2028;

    private readonly CounterBox _box = new();
    private readonly byte[] _vmcs12;
    private readonly uint[] _entryControls;
    private readonly (uint Encoding, FieldWidth Width)[] _readWrite; // present RW fields, for the run-time lookup loops
    private readonly (uint Encoding, FieldWidth Width)[] _readOnly; // present RO fields, for the run-time lookup loop
    private readonly ulong _features;
    private readonly bool _l1VmwriteAny;
    private readonly bool _hasRareFields;
    private TBackend _cpu;
    private CountingVmcs<TBackend> _l0;
    private TControls _controls02;
    private ulong _current = InvalidPointer;
    private ulong _vmxon;
    private bool _inL2;
    private bool _vmcs02Launched;
    private bool _needShadowSync;
    private bool _rareStale;
    private uint _dirty;
    private ulong _vmcs01Secondary;
    private readonly uint _linkPointerGroup;
    private readonly bool _linkPointerEveryEntry;
    private readonly byte[] _vmreadBitmap = new byte[4096];

    /// <param name="backend">The processor; the three VMCS regions must exist there (see <c>SoftwareNested</c>).</param>
    /// <param name="vmcs01">Address of the VMCS L0 runs L1 on.</param>
    /// <param name="vmcs02">Address of the VMCS L0 runs L2 on.</param>
    /// <param name="shadow">Address of the shadow VMCS (a region with the shadow indicator set).</param>
    /// <param name="options">Engine behaviour; default: today's KVM.</param>
    /// <remarks>
    /// L0's VMREAD and VMWRITE bitmaps go into the processor's memory at <paramref name="shadow"/> + 0x1000 and + 0x2000,
    /// and vmcs01 gets "activate secondary controls", their addresses and (while L1 has a current vmcs12) "VMCS shadowing"
    /// with the link pointer: the processor then decides each L1 VMREAD/VMWRITE, as hardware does.
    /// </remarks>
    public NestedVmx(TBackend backend, ulong vmcs01, ulong vmcs02, ulong shadow, NestedVmxOptions? options = null)
    {
        Options = options ?? new NestedVmxOptions();
        _features = (Options.Features ?? TLayout.AllFeatures) & TLayout.AllFeatures;
        _l1VmwriteAny = Options.L1VmwriteAny ?? TLayout.VmwriteAny;
        if (!_l1VmwriteAny && Options.UseShadowVmcs)
        {
            foreach (var field in TLayout.Fields)
            {
                if (FieldRules.NeedsVmwriteAny(field.Type, field.Class))
                {
                    throw new ArgumentException(
                        $"{TLayout.Name}: L1 cannot be denied VMWRITE-any while {field.Name} (0x{field.Encoding:X4}) is a shadow-rw exit-information field.",
                        nameof(options));
                }
            }
        }

        _vmcs12 = new byte[TLayout.Size];
        _vmxon = Options.L1VmxonPointer;
        Memory = new L1Memory(TLayout.Size);
        Vmcs01 = vmcs01;
        Vmcs02 = vmcs02;
        Shadow = shadow;
        _cpu = backend;
        _box.Vmcs02Address = vmcs02;
        _l0 = new CountingVmcs<TBackend>(backend, _box);
        Span<byte> vmwriteBitmap = stackalloc byte[4096];
        TLayout.BuildBitmaps(_features, _vmreadBitmap, vmwriteBitmap);
        _cpu.WriteMemory(shadow + 0x1000, _vmreadBitmap);
        _cpu.WriteMemory(shadow + 0x2000, vmwriteBitmap);

        var controls = new List<uint>();
        var readWrite = new List<(uint, FieldWidth)>();
        var readOnly = new List<(uint, FieldWidth)>();
        foreach (var field in TLayout.Fields)
        {
            // Pre-2019 KVM rewrote vmcs02's execution, exit and entry controls on every entry; shadow-rw ones are
            // written every entry anyway, and control-shadowed ones go through their shadows.
            if (VmcsEncoding.IsMajorControl(field.Encoding) && field.Class != FieldClass.ShadowRw && !field.ControlShadow && Present(field))
            {
                controls.Add(field.Encoding);
            }

            _hasRareFields |= field.Class == FieldClass.RareSync && Present(field);
        }

        foreach (var encoding in TLayout.ReadWriteEncodings)
        {
            if (TLayout.TryGetField(encoding, out var field) && Present(field))
            {
                readWrite.Add((encoding, field.Width));
            }
        }

        foreach (var encoding in TLayout.ReadOnlyEncodings)
        {
            if (TLayout.TryGetField(encoding, out var field) && Present(field))
            {
                readOnly.Add((encoding, field.Width));
            }
        }

        if (TLayout.TryGetField(VmcsLinkPointer, out var link))
        {
            _linkPointerGroup = TLayout.DirtyGroupOf(VmcsLinkPointer);
            _linkPointerEveryEntry = link.Class == FieldClass.ShadowRw;
        }

        _entryControls = controls.ToArray();
        _readWrite = readWrite.ToArray();
        _readOnly = readOnly.ToArray();
        Check(_l0.VmPtrLd(vmcs01), "VMPTRLD vmcs01");
        Check(_l0.VmWrite(VmcsLinkPointer, InvalidPointer), "VMWRITE vmcs01 VMCS_LINK_POINTER");
        if (Options.UseShadowVmcs)
        {
            Check(_l0.VmRead(ProcBasedControls, out var primary), "VMREAD vmcs01 primary controls");
            Check(_l0.VmWrite(ProcBasedControls, primary | VmxCapabilities.ActivateSecondaryControls), "VMWRITE vmcs01 primary controls");
            Check(_l0.VmRead(SecondaryControls, out _vmcs01Secondary), "VMREAD vmcs01 secondary controls");
            Check(_l0.VmWrite(VmreadBitmap, shadow + 0x1000), "VMWRITE vmcs01 VMREAD_BITMAP");
            Check(_l0.VmWrite(VmwriteBitmap, shadow + 0x2000), "VMWRITE vmcs01 VMWRITE_BITMAP");
        }
    }

    public NestedVmxOptions Options { get; }

    public ulong Vmcs01 { get; }

    public ulong Vmcs02 { get; }

    public ulong Shadow { get; }

    /// <summary>L1's memory: create VMCS regions here before L1 VMPTRLDs them.</summary>
    public L1Memory Memory { get; }

    public bool InL2 => _inL2;

    public ulong CurrentVmcs12 => _current;

    /// <summary>The layout's features present on L0's CPU.</summary>
    public ulong Features => _features;

    public NestedCounters Counters => _box.Snapshot();

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
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
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
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
        }

        if (!Supported(encoding, out var field))
        {
            return VmFail(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if (!FieldRules.L1MayWrite(field.Type, _l1VmwriteAny))
        {
            return VmFail(VmxInstructionError.VmwriteReadOnlyVmcsComponent);
        }

#if VMCSGEN_MUTANTS
        if ((Bug & PlantedBug.SkipRareSyncBeforeDirty) == 0)
#endif
        {
            EnsureRareSynced();
        }

        if (VmcsEncoding.IsSegmentAccessRights(field.Encoding))
        {
            value &= VmcsEncoding.SegmentAccessRightsMask;
        }

        TLayout.Write(_vmcs12, field.Encoding, value);
        if (field.Class == FieldClass.ShadowRo && Options.UseShadowVmcs && (_vmreadBitmap[field.Encoding >> 3] & (1 << (int)(field.Encoding & 7))) == 0 && !_needShadowSync)
        {
            // L1 reads this field from the shadow VMCS without exiting: put the new value there too.
            EnterShadow();
            Check(_l0.VmWrite(field.Encoding, value), "VMWRITE shadow");
            LeaveShadow();
        }

        _dirty |= TLayout.DirtyGroupOf(field.Encoding);
        return VmxResult.Succeed;
    }

    /// <summary>L1 executes VMPTRLD.</summary>
    public VmxResult L1VmPtrLd(ulong address)
    {
        RequireL1();
        _box.Counts.ExitsVmptrld++;
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (!ValidL1Address(address))
        {
            return VmFail(VmxInstructionError.VmptrldInvalidAddress);
        }

        if (address == _vmxon)
        {
            return VmFail(VmxInstructionError.VmptrldVmxonPointer);
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

        Release(vmclear: false);
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
    /// KVM_SET_NESTED_STATE: L2 (if running) is left without a VM exit, the current vmcs12 dropped, and the exported state
    /// taken as the engine's own: L1's regions, the VMXON pointer, the current vmcs12 (all of it dirty, the shadow VMCS
    /// refreshed before L1 runs) and, when <see cref="NestedState.InL2"/>, a VM entry into L2 on a vmcs02 prepared from it.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The state is inconsistent, as vmx_set_nested_state's -EINVAL: a vmcs12 of the wrong size, InL2 or a current vmcs12
    /// outside VMX operation, a VMXON or vmcs12 address that is no valid page, a vmcs12 at the VMXON region.
    /// </exception>
    public void ImportNestedState(NestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var hasCurrent = state.CurrentVmcs12 != InvalidPointer;
        if (hasCurrent != (state.Vmcs12 is not null) || (state.Vmcs12 is not null && state.Vmcs12.Length != TLayout.Size))
        {
            throw new ArgumentException($"ImportNestedState: the vmcs12 must be {TLayout.Size} bytes exactly when there is a current VMCS pointer.", nameof(state));
        }

        var vmxon = state.VmxonPointer ?? _vmxon;
        if ((state.InL2 && !hasCurrent) || (hasCurrent && vmxon == InvalidPointer))
        {
            throw new ArgumentException("ImportNestedState: L2 cannot run, nor a vmcs12 be current, outside VMX operation.", nameof(state));
        }

        // vmx_set_nested_state: -EINVAL for a VMXON or vmcs12 address that is not a valid page, or a vmcs12 at the VMXON region.
        if ((vmxon != InvalidPointer && !ValidL1Address(vmxon)) || (hasCurrent && (!ValidL1Address(state.CurrentVmcs12) || state.CurrentVmcs12 == vmxon)))
        {
            throw new ArgumentException($"ImportNestedState: VMXON pointer 0x{vmxon:X} or vmcs12 pointer 0x{state.CurrentVmcs12:X} is not a valid, distinct page address.", nameof(state));
        }

        ArgumentNullException.ThrowIfNull(state.L1Regions);

        if (_inL2)
        {
            SwitchVcpu();
            Check(_l0.VmPtrLd(Vmcs01), "VMPTRLD vmcs01");
            _inL2 = false;
        }

        DisableShadowing();
        Memory.Replace(state.L1Regions);
        _vmxon = vmxon;
        _current = state.CurrentVmcs12;
        _needShadowSync = false;
        _rareStale = false;
        if (!hasCurrent)
        {
            return;
        }

        state.Vmcs12!.CopyTo(_vmcs12, 0);
        _dirty = TLayout.AllDirtyGroups;
        EnableShadowing();
        if (!state.InL2)
        {
            ResumeL1();
            return;
        }

        // nested_vmx_enter_non_root_mode from set_nested_state: vmcs02 prepared in full from vmcs12, then the entry.
        var launched = BinaryPrimitives.ReadUInt32LittleEndian(_vmcs12.AsSpan(8)) != 0;
        _needShadowSync = false; // L1 does not run before L2: the exit refreshes the shadow
        EnterVmcs02(launch: !launched);

        // vmcs02's exit information is what the CPU left there at L2's last exit, which vmcs12 holds: put it back (as the
        // CPU, uncounted), so an export in L2, which syncs vmcs02 into vmcs12, gives back what was imported.
        foreach (var field in TLayout.Fields)
        {
            if (field.Type == FieldType.ExitInformation && !FieldRules.IsWrittenByL0(field.Encoding) && Present(field))
            {
                TLayout.Read(_vmcs12, field.Encoding, out var value);
                Check(_cpu.VmWrite(field.Encoding, value), "restore vmcs02 exit information");
            }
        }
    }

    /// <summary>L1 executes VMCLEAR.</summary>
    public VmxResult L1VmClear(ulong address)
    {
        RequireL1();
        _box.Counts.ExitsVmclear++;
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (!ValidL1Address(address))
        {
            return VmFail(VmxInstructionError.VmclearInvalidAddress);
        }

        if (address == _vmxon)
        {
            return VmFail(VmxInstructionError.VmclearVmxonPointer);
        }

        if (address == _current)
        {
            Release(vmclear: true);
        }

        if (Memory.TryGet(address, out var image))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(8), 0);
        }

        return VmxResult.Succeed;
    }

    /// <summary>L1 executes VMLAUNCH; on success L2 runs until <see cref="L2Exit"/>.</summary>
    public VmxResult L1VmLaunch() => Enter(launch: true);

    /// <summary>L1 executes VMRESUME; on success L2 runs until <see cref="L2Exit"/>.</summary>
    public VmxResult L1VmResume() => Enter(launch: false);

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
#if VMCSGEN_MUTANTS
        ulong forgotten = 0;
        var forget = ForgetOnExit != 0 && TLayout.Read(_vmcs12, ForgetOnExit, out forgotten).IsSuccess;
#endif
        Check(TLayout.SyncVmcs02ToVmcs12(ref _l0, _vmcs12, _features), "sync vmcs02 to vmcs12");
#if VMCSGEN_MUTANTS
        if (forget)
        {
            TLayout.Write(_vmcs12, ForgetOnExit, forgotten); // the field's every-exit read is missing
        }
#endif
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
    /// What KVM_GET_NESTED_STATE would save: shadow and rare state flushed into vmcs12 first (in L2: vmcs02 synced into it).
    /// </summary>
    public NestedState ExportNestedState()
    {
        if (_current != InvalidPointer)
        {
            if (_inL2)
            {
                Check(TLayout.SyncVmcs02ToVmcs12(ref _l0, _vmcs12, _features), "sync vmcs02 to vmcs12");
                Check(TLayout.SyncVmcs02ToVmcs12Rare(ref _l0, _vmcs12, _features), "sync vmcs02 rare fields to vmcs12");
                _rareStale = false;
            }
            else
            {
                FlushShadow();
                EnsureRareSynced();
            }
        }

        return new NestedState(_current, _current == InvalidPointer ? null : (byte[])_vmcs12.Clone(), Memory.Copy(), _inL2) { VmxonPointer = _vmxon };
    }

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

        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
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

    /// <summary>KVM's get_vmcs12_field_offset: an encoding with bits 63:15 set is no field.</summary>
    private bool Supported(ulong encoding, out VmcsFieldDescriptor field)
    {
        field = default;
        return (encoding >> 15) == 0 && TLayout.TryGetField((uint)encoding, out field) && Present(field);
    }

    private bool Present(VmcsFieldDescriptor field) => field.FeatureMask == 0 || (_features & field.FeatureMask) != 0;

    private bool ValidL1Address(ulong address) => (address & 0xFFF) == 0 && (address >> Options.L1PhysicalAddressWidth) == 0;

    /// <summary>VMfail(n) as L0 emulates it: VMfailValid with the number in vmcs12, or VMfailInvalid without a current vmcs12.</summary>
    private VmxResult VmFail(VmxInstructionError error)
    {
        if (_current == InvalidPointer)
        {
            return VmxResult.FailInvalid;
        }

        TLayout.Write(_vmcs12, VmInstructionError, (ulong)error);
        return VmxResult.FailValid(error);
    }

    private void RequireL1()
    {
        if (_inL2)
        {
            throw new InvalidOperationException("An L1 instruction while L2 runs: call L2Exit first.");
        }
    }

    internal static bool AcceptableHeader(uint header, bool shadowing) =>
        (header & 0x7FFF_FFFF) == TLayout.Revision && ((header & 0x8000_0000) == 0 || shadowing);

    private static void Check(VmxResult result, string what)
    {
        if (!result.IsSuccess)
        {
            ThrowBackendFailure(what, result);
        }
    }

    private static void ThrowBackendFailure(string what, VmxResult result) =>
        throw new InvalidOperationException($"{TLayout.Name} nested engine: {what} failed on the backend with {result}.");
}
