using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using VmcsGen.Layouts.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Benchmarks;

/// <summary>
/// The shadow copy loops of fields/kvm.vmcs on SoftwareVmx: generated straight-line code against KVM's pre-2019 loop
/// (compact-table offset lookup and a width switch per field), and against the floor: the same 24 fields moved by
/// direct loads and stores at compile-time offsets with no VMCS semantics, struct to struct. Two raw backends (no VMCS
/// semantics): the sparse one (<see cref="RawVmcs"/>, one slot per encoding) with its own floor, the same fields loaded
/// straight from its slots; and the dense one (<see cref="DenseRawVmcs"/>, values at vmcs12's offsets, as an enlightened
/// VMCS), whose floor is the struct-to-struct one. A memcpy of the same byte count is a reference line.
/// </summary>
[MemoryDiagnoser]
public class CopyLoopBenchmarks
{
    private SoftwareVmx _cpu = null!;
    private SoftwareVmcs _shadow;
    private static readonly ulong[] RawSlots = new ulong[0x4000];
    private RawVmcs _raw = new(RawSlots);
    private DenseRawVmcs _dense;
    private Vmcs12 _vmcs12;
    private Vmcs12 _source;
    private readonly byte[] _from = new byte[ShadowBytes];
    private readonly byte[] _to = new byte[ShadowBytes];
    private uint[] _encodings = null!;
    private int _bytes;

    /// <summary>Bytes of the 24 read-write fields: what the memcpy line moves.</summary>
    private const int ShadowBytes = 132;

    [GlobalSetup]
    public void Setup()
    {
        _cpu = new SoftwareVmx();
        _cpu.CreateRegion(0x3000, shadow: true);
        _cpu.VmPtrLd(0x3000);
        _shadow = _cpu.Vmcs;
        _vmcs12 = Vmcs12.Create();
        _source = Vmcs12.Create();

        // A distinct value in each read-write field, so the setup check below sees a field copied to the wrong place.
        foreach (var encoding in ShadowFields.ReadWriteEncodings)
        {
            Vmcs12Access.Write(ref _source, encoding, encoding * 0x1_0001_0001ul);
        }

        _source.GuestRip = 0x1234;
        ShadowFields.CopyVmcs12ToShadow(ref _shadow, ref _source, Features.All);
        _encodings = ShadowFields.ReadWriteEncodings.ToArray();
        foreach (var encoding in _encodings)
        {
            VmcsFieldInfo.TryGetField(encoding, out var field);
            _bytes += field.AccessSize;
        }

        if (_bytes != ShadowBytes)
        {
            throw new InvalidOperationException($"the 24 RW fields are {_bytes} bytes, not {ShadowBytes}");
        }

        // The dense backend holds _source's values at vmcs12's offsets: its generated copy must produce what the floor
        // does, and an encoding the layout lacks (GUEST_SMBASE, 0x4828) must still fail on its own (VMfailValid 12).
        _dense = new DenseRawVmcs(new StrongBox<Vmcs12>(_source));
        DenseGenerated();
        var generated = _vmcs12;
        _vmcs12 = Vmcs12.Create();
        Floor();
        if (!Vmcs12.AsBytes(ref generated).SequenceEqual(Vmcs12.AsBytes(ref _vmcs12))
            || _dense.VmRead(0x4828, out _) != VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent))
        {
            throw new InvalidOperationException("the dense raw backend's copy differs from the floor's, or it accepted an encoding the layout lacks");
        }
    }

    [Benchmark(Baseline = true, Description = "shadow→vmcs12: run-time offset lookup (KVM before 2019)")]
    public ulong CopyShadowToVmcs12RuntimeLookup() => RuntimeLookup(ref _shadow);

    [Benchmark(Description = "raw backend, sparse slots: run-time offset lookup")]
    public ulong RawRuntimeLookup() => RuntimeLookup(ref _raw);

    [Benchmark(Description = "raw backend, sparse slots: generated")]
    public ulong RawGenerated()
    {
        ShadowFields.CopyShadowToVmcs12(ref _raw, ref _vmcs12, Features.All);
        return _vmcs12.GuestRip;
    }

    private ulong RuntimeLookup<TVmcs>(ref TVmcs shadow)
        where TVmcs : struct, IVmcs
    {
        var bytes = Vmcs12.AsBytes(ref _vmcs12);
        foreach (var encoding in _encodings)
        {
            if (!Vmcs12Access.TryGetOffsetCompact(encoding, out var offset))
            {
                continue;
            }

            shadow.VmRead(encoding, out var value);
            switch (VmcsEncoding.Width(encoding))
            {
                case FieldWidth.Bits16:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes[offset..], (ushort)value);
                    break;
                case FieldWidth.Bits32:
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes[offset..], (uint)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes[offset..], value);
                    break;
            }
        }

        return _vmcs12.GuestRip;
    }

    [Benchmark(Description = "shadow→vmcs12: generated, compile-time offsets")]
    public ulong CopyShadowToVmcs12Generated()
    {
        ShadowFields.CopyShadowToVmcs12(ref _shadow, ref _vmcs12, Features.All);
        return _vmcs12.GuestRip;
    }

    /// <summary>
    /// The generated loop's 24 VMREADs on SoftwareVmx with every result dropped: what folding the per-field result chain
    /// could save at most on a backend whose results are not constants (on the raw backends they fold away already).
    /// </summary>
    [Benchmark(Description = "shadow→vmcs12: generated's VMREADs, results dropped (no Then chain), SoftwareVmx")]
    public ulong CopyShadowToVmcs12ResultsDropped()
    {
        var shadow = _shadow;
        ref var to = ref _vmcs12;
        ulong v;
        shadow.VmRead(0x0C08, out v); to.HostFsSelector = (ushort)v;
        shadow.VmRead(0x0C0A, out v); to.HostGsSelector = (ushort)v;
        shadow.VmRead(0x4000, out v); to.PinBasedVmExecControl = (uint)v;
        shadow.VmRead(0x4002, out v); to.CpuBasedVmExecControl = (uint)v;
        shadow.VmRead(0x4004, out v); to.ExceptionBitmap = (uint)v;
        shadow.VmRead(0x4016, out v); to.VmEntryIntrInfoField = (uint)v;
        shadow.VmRead(0x4018, out v); to.VmEntryExceptionErrorCode = (uint)v;
        shadow.VmRead(0x401A, out v); to.VmEntryInstructionLen = (uint)v;
        shadow.VmRead(0x401C, out v); to.TprThreshold = (uint)v;
        shadow.VmRead(0x4824, out v); to.GuestInterruptibilityInfo = (uint)v;
        shadow.VmRead(0x6000, out v); to.Cr0GuestHostMask = v;
        shadow.VmRead(0x6004, out v); to.Cr0ReadShadow = v;
        shadow.VmRead(0x6006, out v); to.Cr4ReadShadow = v;
        shadow.VmRead(0x6800, out v); to.GuestCr0 = v;
        shadow.VmRead(0x6802, out v); to.GuestCr3 = v;
        shadow.VmRead(0x6804, out v); to.GuestCr4 = v;
        shadow.VmRead(0x681C, out v); to.GuestRsp = v;
        shadow.VmRead(0x681E, out v); to.GuestRip = v;
        shadow.VmRead(0x6820, out v); to.GuestRflags = v;
        shadow.VmRead(0x6C06, out v); to.HostFsBase = v;
        shadow.VmRead(0x6C08, out v); to.HostGsBase = v;
        shadow.VmRead(0x0810, out v); to.GuestIntrStatus = (ushort)v;
        shadow.VmRead(0x0812, out v); to.GuestPmlIndex = (ushort)v;
        shadow.VmRead(0x482E, out v); to.VmxPreemptionTimerValue = (uint)v;
        return to.GuestRip;
    }

    [Benchmark(Description = "vmcs12→shadow: generated, RW then RO")]
    public ulong CopyVmcs12ToShadowGenerated()
    {
        ShadowFields.CopyVmcs12ToShadow(ref _shadow, ref _source, Features.All);
        return _source.GuestRip;
    }

    [Benchmark(Description = "raw backend, dense at vmcs12 offsets: generated")]
    public ulong DenseGenerated()
    {
        ShadowFields.CopyShadowToVmcs12(ref _dense, ref _vmcs12, Features.All);
        return _vmcs12.GuestRip;
    }

    [Benchmark(Description = "floor: the 24 RW fields by direct loads and stores, struct to struct")]
    public ulong Floor()
    {
        ref var to = ref _vmcs12;
        ref readonly var from = ref _source;
        to.HostFsSelector = from.HostFsSelector;
        to.HostGsSelector = from.HostGsSelector;
        to.GuestIntrStatus = from.GuestIntrStatus;
        to.GuestPmlIndex = from.GuestPmlIndex;
        to.PinBasedVmExecControl = from.PinBasedVmExecControl;
        to.CpuBasedVmExecControl = from.CpuBasedVmExecControl;
        to.ExceptionBitmap = from.ExceptionBitmap;
        to.VmEntryIntrInfoField = from.VmEntryIntrInfoField;
        to.VmEntryExceptionErrorCode = from.VmEntryExceptionErrorCode;
        to.VmEntryInstructionLen = from.VmEntryInstructionLen;
        to.TprThreshold = from.TprThreshold;
        to.GuestInterruptibilityInfo = from.GuestInterruptibilityInfo;
        to.VmxPreemptionTimerValue = from.VmxPreemptionTimerValue;
        to.Cr0GuestHostMask = from.Cr0GuestHostMask;
        to.Cr0ReadShadow = from.Cr0ReadShadow;
        to.Cr4ReadShadow = from.Cr4ReadShadow;
        to.GuestCr0 = from.GuestCr0;
        to.GuestCr3 = from.GuestCr3;
        to.GuestCr4 = from.GuestCr4;
        to.GuestRsp = from.GuestRsp;
        to.GuestRip = from.GuestRip;
        to.GuestRflags = from.GuestRflags;
        to.HostFsBase = from.HostFsBase;
        to.HostGsBase = from.HostGsBase;
        return to.GuestRip;
    }

    [Benchmark(Description = "raw backend, sparse slots: floor, the 24 RW fields loaded straight from its slots")]
    public ulong RawFloor()
    {
        ref var to = ref _vmcs12;
        var s = RawSlots;
        to.HostFsSelector = (ushort)s[0x0C08 >> 1];
        to.HostGsSelector = (ushort)s[0x0C0A >> 1];
        to.PinBasedVmExecControl = (uint)s[0x4000 >> 1];
        to.CpuBasedVmExecControl = (uint)s[0x4002 >> 1];
        to.ExceptionBitmap = (uint)s[0x4004 >> 1];
        to.VmEntryIntrInfoField = (uint)s[0x4016 >> 1];
        to.VmEntryExceptionErrorCode = (uint)s[0x4018 >> 1];
        to.VmEntryInstructionLen = (uint)s[0x401A >> 1];
        to.TprThreshold = (uint)s[0x401C >> 1];
        to.GuestInterruptibilityInfo = (uint)s[0x4824 >> 1];
        to.Cr0GuestHostMask = s[0x6000 >> 1];
        to.Cr0ReadShadow = s[0x6004 >> 1];
        to.Cr4ReadShadow = s[0x6006 >> 1];
        to.GuestCr0 = s[0x6800 >> 1];
        to.GuestCr3 = s[0x6802 >> 1];
        to.GuestCr4 = s[0x6804 >> 1];
        to.GuestRsp = s[0x681C >> 1];
        to.GuestRip = s[0x681E >> 1];
        to.GuestRflags = s[0x6820 >> 1];
        to.HostFsBase = s[0x6C06 >> 1];
        to.HostGsBase = s[0x6C08 >> 1];
        to.GuestIntrStatus = (ushort)s[0x0810 >> 1];
        to.GuestPmlIndex = (ushort)s[0x0812 >> 1];
        to.VmxPreemptionTimerValue = (uint)s[0x482E >> 1];
        return to.GuestRip;
    }

    [Benchmark(Description = "reference: memcpy of the same 132 bytes")]
    public byte Memcpy()
    {
        _from.AsSpan().CopyTo(_to);
        return _to[0];
    }
}

/// <summary>
/// A backend with no VMCS semantics at all: one 64-bit slot per full encoding, no checks, no counters. Copy loops on it
/// show the cost of the loop itself, which SoftwareVmx's exact VMREAD otherwise hides. Its state is the array it points
/// to, so it is an <see cref="IVmcsHandle"/>: the generated loops keep it in registers and check the array's bounds once.
/// </summary>
public readonly struct RawVmcs(ulong[] slots) : IVmcsHandle
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmRead(uint encoding, out ulong value)
    {
        value = slots[(encoding >> 1) & 0x3FFF];
        return VmxResult.Succeed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmWrite(uint encoding, ulong value)
    {
        slots[(encoding >> 1) & 0x3FFF] = value;
        return VmxResult.Succeed;
    }

    public VmxResult VmPtrLd(ulong address) => VmxResult.Succeed;

    public VmxResult VmClear(ulong address) => VmxResult.Succeed;
}

/// <summary>
/// A raw backend whose values sit densely at vmcs12's own offsets, as Hyper-V's enlightened VMCS keeps each field at a
/// fixed published offset of a memory page (Linux: <c>struct hv_enlightened_vmcs</c>, read by <c>evmcs_read64</c> through
/// <c>get_evmcs_offset</c>, arch/x86/kvm/vmx/vmx_onhyperv.h, and <c>vmcs_field_to_evmcs_1[ROL16(field, 6)]</c>,
/// hyperv_evmcs.h). The lookup is <see cref="Vmcs12Access.OffsetAndSize"/> over constant data, so with a constant
/// encoding the JIT folds offset and width and a VmRead is one load. Its storage is a <see cref="Vmcs12"/> itself: every
/// offset the layout gives lies inside it, so there is nothing to bounds-check. An encoding the layout lacks still fails
/// per field, VMfailValid(12) with value 0, as a VMREAD of an unsupported component does.
/// </summary>
public readonly struct DenseRawVmcs(StrongBox<Vmcs12> image) : IVmcsHandle
{
    // One packed lookup result, if/else rather than a switch expression, and the address formed inside each access (the
    // layout's offsets lie inside Vmcs12): the shapes with which the JIT folds all 24 fields of a copy loop to the floor's
    // instructions (JitDisasm); two out results, a switch expression or a `ref` local per field left temporaries on the stack.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmRead(uint encoding, out ulong value)
    {
        var entry = Vmcs12Access.OffsetAndSize(encoding);
        if (entry == 0)
        {
            value = 0;
            return VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if ((entry >> 16) == 2)
        {
            value = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)));
        }
        else if ((entry >> 16) == 4)
        {
            value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)));
        }
        else
        {
            value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)));
        }

        return VmxResult.Succeed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmWrite(uint encoding, ulong value)
    {
        var entry = Vmcs12Access.OffsetAndSize(encoding);
        if (entry == 0)
        {
            return VmxResult.FailValid(VmxInstructionError.UnsupportedVmcsComponent);
        }

        if ((entry >> 16) == 2)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)), (ushort)value);
        }
        else if ((entry >> 16) == 4)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)), (uint)value);
        }
        else
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref Unsafe.As<Vmcs12, byte>(ref image.Value!), (nint)(entry & 0xFFFF)), value);
        }

        return VmxResult.Succeed;
    }

    public VmxResult VmPtrLd(ulong address) => VmxResult.Succeed;

    public VmxResult VmClear(ulong address) => VmxResult.Succeed;

}
