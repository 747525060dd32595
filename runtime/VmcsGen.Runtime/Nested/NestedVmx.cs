using System;
using System.Collections.Generic;

namespace VmcsGen.Nested;

/// <summary>
/// L0's side of nested VMX for one L1 vCPU, over a backend processor with three VMCSes (vmcs01, vmcs02, the shadow VMCS)
/// and L1's vmcs12, moving fields only through the code generated from the manifest. It follows the manifest's classes:
/// shadowed accesses never reach L0; trapped ones are emulated against vmcs12; the vmcs12 → shadow sync waits until L1
/// runs; the rare set is marked stale on exit and synced on demand; a trapped VMWRITE syncs the rare set before it
/// dirties vmcs12; VMCLEAR, a switching VMPTRLD and <see cref="ExportNestedState"/> flush shadow and rare state first.
/// Every L1-visible outcome is a <see cref="VmxResult"/>; misuse of the API (an L1 instruction while L2 runs) throws.
/// This file holds the engine's state, its construction and the checks the instructions share; the other parts, one
/// concern each: NestedVmx.Access.cs L1's VMREAD/VMWRITE; NestedVmx.Pointers.cs VMPTRLD, VMPTRST, VMCLEAR, VMXON and
/// VMXOFF; NestedVmx.Entry.cs the nested entry; NestedVmx.Exit.cs the nested exit and L2's write-throughs;
/// NestedVmx.State.cs the nested state's export and import; NestedVmx.Sync.cs the shadow and rare-set state moves;
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

    /// <summary>KVM's get_vmcs12_field_offset: an encoding with bits 63:15 set is no field.</summary>
    private bool Supported(ulong encoding, out VmcsFieldDescriptor field)
    {
        field = default;
        return (encoding >> 15) == 0 && TLayout.TryGetField((uint)encoding, out field) && Present(field);
    }

    /// <summary>
    /// What VMREAD, VMWRITE, VMLAUNCH and VMRESUME check before they use vmcs12 (KVM's nested_vmx_check_permission, then
    /// the current-VMCS check): #UD outside VMX operation, VMfailInvalid without a current VMCS; null when they go on.
    /// </summary>
    private VmxResult? CheckCurrentVmcs()
    {
        if (_vmxon == InvalidPointer)
        {
            return VmxResult.InvalidOpcode;
        }

        return _current == InvalidPointer ? VmxResult.FailInvalid : null;
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
