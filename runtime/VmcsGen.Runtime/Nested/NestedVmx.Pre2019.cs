using System;
using System.Buffers.Binary;

namespace VmcsGen.Nested;

/// <summary>
/// KVM before its 2019 series, for the kvm-2018 strategy: shadow copies through the run-time offset lookup, the entry
/// VMWRITEs the series removed, and the vCPU put on every VMCS switch.
/// </summary>
public sealed partial class NestedVmx<TLayout, TControls, TBackend>
{
    /// <summary>Pre-2019 KVM: for each shadowed field, look its offset up in the compact table and switch on its width.</summary>
    private VmxResult CopyShadowToVmcs12WithLookup()
    {
        var result = VmxResult.Succeed;
        var vmcs12 = _vmcs12.AsSpan();
        foreach (var (encoding, width) in _readWrite)
        {
            if (!TLayout.TryGetOffsetCompact(encoding, out var offset))
            {
                continue;
            }

            _box.Counts.RuntimeLookups += Options.ShadowCopyWidthSwitch ? 2 : 1;
            result = result.Then(_l0.VmRead(encoding, out var value));
            switch (width)
            {
                case FieldWidth.Bits16:
                    BinaryPrimitives.WriteUInt16LittleEndian(vmcs12[offset..], (ushort)value);
                    break;
                case FieldWidth.Bits32:
                    BinaryPrimitives.WriteUInt32LittleEndian(vmcs12[offset..], (uint)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt64LittleEndian(vmcs12[offset..], value);
                    break;
            }
        }

        return result;
    }

    /// <summary>
    /// Pre-2019 KVM (<c>copy_vmcs12_to_shadow</c> through <c>vmcs12_read_any</c>): for each RW then RO field, look its offset
    /// up in the compact table, read vmcs12 by width, VMWRITE the shadow.
    /// </summary>
    private VmxResult CopyVmcs12ToShadowWithLookup()
    {
        var result = VmxResult.Succeed;
        result = result.Then(WriteShadowWithLookup(_readWrite));
        return result.Then(WriteShadowWithLookup(_readOnly));
    }

    private VmxResult WriteShadowWithLookup((uint Encoding, FieldWidth Width)[] fields)
    {
        var result = VmxResult.Succeed;
        ReadOnlySpan<byte> vmcs12 = _vmcs12;
        foreach (var (encoding, width) in fields)
        {
            if (!TLayout.TryGetOffsetCompact(encoding, out var offset))
            {
                continue;
            }

            _box.Counts.RuntimeLookups += Options.ShadowCopyWidthSwitch ? 2 : 1;
            var value = width switch
            {
                FieldWidth.Bits16 => BinaryPrimitives.ReadUInt16LittleEndian(vmcs12[offset..]),
                FieldWidth.Bits32 => BinaryPrimitives.ReadUInt32LittleEndian(vmcs12[offset..]),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(vmcs12[offset..]),
            };
            result = result.Then(_l0.VmWrite(encoding, value));
        }

        return result;
    }

    /// <summary>Pre-2019 KVM, on every nested VM-entry: the VMWRITEs the 2019 series removed from the entry path.</summary>
    private void LegacyEntryWrites()
    {
        foreach (var encoding in HostStateLoad.LegacyEntryWrites)
        {
            if (TLayout.TryGetField(encoding, out var field) && Present(field))
            {
                TLayout.Read(_vmcs12, encoding, out var value);
                Check(_l0.VmWrite(encoding, value), "VMWRITE vmcs02 (pre-2019 entry)");
            }
        }
    }

    private void SwitchVcpu()
    {
        if (Options.PutVcpuOnVmcsSwitch)
        {
            _box.Counts.VcpuStateSwitches++;
        }
    }
}
