using System;
using System.Collections.Generic;

namespace VmcsGen;

/// <summary>The VMX control fields whose allowed settings the capability MSRs report.</summary>
public enum VmxControl
{
    PinBased,
    PrimaryProcessorBased,
    SecondaryProcessorBased,
    TertiaryProcessorBased,
    VmExit,
    VmEntry,
}

/// <summary>The IA32_VMX_* capability MSR numbers (SDM Vol. 3D Appendix A).</summary>
public static class VmxMsr
{
    public const uint Basic = 0x480;
    public const uint PinBasedCtls = 0x481;
    public const uint ProcBasedCtls = 0x482;
    public const uint ExitCtls = 0x483;
    public const uint EntryCtls = 0x484;
    public const uint Misc = 0x485;
    public const uint Cr0Fixed0 = 0x486;
    public const uint Cr0Fixed1 = 0x487;
    public const uint Cr4Fixed0 = 0x488;
    public const uint Cr4Fixed1 = 0x489;
    public const uint VmcsEnum = 0x48A;
    public const uint ProcBasedCtls2 = 0x48B;
    public const uint EptVpidCap = 0x48C;
    public const uint TruePinBasedCtls = 0x48D;
    public const uint TrueProcBasedCtls = 0x48E;
    public const uint TrueExitCtls = 0x48F;
    public const uint TrueEntryCtls = 0x490;
    public const uint VmFunc = 0x491;
    public const uint ProcBasedCtls3 = 0x492;
}

/// <summary>A desired control value the CPU cannot take: names the control and the offending bits.</summary>
public sealed class VmxCapabilityException(string message) : InvalidOperationException(message);

/// <summary>
/// What a CPU's VMX capability MSRs allow: the allowed-0/allowed-1 settings of each control (TRUE_ MSRs where
/// IA32_VMX_BASIC bit 55 says they exist), VMWRITE to any field, VMCS shadowing, the highest field index, and the
/// manifest features (<c>apicv</c>, <c>pml</c>, <c>preemption-timer</c>) they imply.
/// </summary>
public sealed partial class VmxCapabilities
{
    private readonly (uint MustBeOne, ulong MayBeOne)[] _controls = new (uint, ulong)[6];

    /// <summary>Builds the model from raw MSR values by MSR number; an MSR the CPU does not report is absent from the map.</summary>
    /// <exception cref="ArgumentException">IA32_VMX_BASIC or a control MSR the CPU must have is missing.</exception>
    public VmxCapabilities(IReadOnlyDictionary<uint, ulong> msrs)
    {
        ArgumentNullException.ThrowIfNull(msrs);
        Msrs = new Dictionary<uint, ulong>(msrs);
        var basic = Require(VmxMsr.Basic, "IA32_VMX_BASIC");
        Revision = (uint)(basic & 0x7FFF_FFFF);
        RegionSize = (int)((basic >> 32) & 0x1FFF);
        HasTrueControls = (basic & (1ul << 55)) != 0;

        SetControl(VmxControl.PinBased, HasTrueControls ? VmxMsr.TruePinBasedCtls : VmxMsr.PinBasedCtls, "PINBASED_CTLS");
        SetControl(VmxControl.PrimaryProcessorBased, HasTrueControls ? VmxMsr.TrueProcBasedCtls : VmxMsr.ProcBasedCtls, "PROCBASED_CTLS");
        SetControl(VmxControl.VmExit, HasTrueControls ? VmxMsr.TrueExitCtls : VmxMsr.ExitCtls, "EXIT_CTLS");
        SetControl(VmxControl.VmEntry, HasTrueControls ? VmxMsr.TrueEntryCtls : VmxMsr.EntryCtls, "ENTRY_CTLS");

        // Secondary controls exist only if primary bit 31 ("activate secondary controls") may be 1; tertiary likewise with bit 17.
        if (MayBeOne(VmxControl.PrimaryProcessorBased, ActivateSecondaryControls) && msrs.TryGetValue(VmxMsr.ProcBasedCtls2, out var secondary))
        {
            _controls[(int)VmxControl.SecondaryProcessorBased] = ((uint)secondary, secondary >> 32);
        }

        if (MayBeOne(VmxControl.PrimaryProcessorBased, ActivateTertiaryControls) && msrs.TryGetValue(VmxMsr.ProcBasedCtls3, out var tertiary))
        {
            _controls[(int)VmxControl.TertiaryProcessorBased] = (0, tertiary); // IA32_VMX_PROCBASED_CTLS3 reports allowed-1 only
        }

        Misc = msrs.TryGetValue(VmxMsr.Misc, out var misc) ? misc : 0;
        VmcsEnum = msrs.TryGetValue(VmxMsr.VmcsEnum, out var vmcsEnum) ? vmcsEnum : 0;
        EptVpidCap = msrs.TryGetValue(VmxMsr.EptVpidCap, out var ept) ? ept : 0;
    }

    // Bit numbers, SDM Vol. 3C ch. 26 (VM-execution control fields).
    public const uint ActivateSecondaryControls = 1u << 31;
    public const uint ActivateTertiaryControls = 1u << 17;
    public const uint PinPostedInterrupts = 1u << 7;
    public const uint PinPreemptionTimer = 1u << 6;
    public const uint SecondaryEnableEpt = 1u << 1;
    public const uint SecondaryApicRegisterVirtualization = 1u << 8;
    public const uint SecondaryVirtualInterruptDelivery = 1u << 9;
    public const uint SecondaryVmcsShadowing = 1u << 14;
    public const uint SecondaryEnablePml = 1u << 17;

    /// <summary>The raw MSR values this model was built from.</summary>
    public IReadOnlyDictionary<uint, ulong> Msrs { get; }

    /// <summary>VMCS revision identifier (IA32_VMX_BASIC bits 30:0).</summary>
    public uint Revision { get; }

    /// <summary>Bytes to allocate for a VMCS region (IA32_VMX_BASIC bits 44:32).</summary>
    public int RegionSize { get; }

    /// <summary>IA32_VMX_BASIC bit 55: the TRUE_ control MSRs exist and are the ones used.</summary>
    public bool HasTrueControls { get; }

    public ulong Misc { get; }

    public ulong VmcsEnum { get; }

    public ulong EptVpidCap { get; }

    /// <summary>IA32_VMX_MISC bit 29: VMWRITE may write VM-exit information fields.</summary>
    public bool VmwriteAnyField => (Misc & (1ul << 29)) != 0;

    /// <summary>VMCS shadowing: secondary control bit 14 may be 1.</summary>
    public bool VmcsShadowing => MayBeOne(VmxControl.SecondaryProcessorBased, SecondaryVmcsShadowing);

    /// <summary>Highest index (bits 9:1 of an encoding) of any field, from IA32_VMX_VMCS_ENUM bits 9:1.</summary>
    public uint HighestFieldIndex => (uint)((VmcsEnum >> 1) & 0x1FF);

    /// <summary>
    /// APIC virtualization as KVM's <c>enable_apicv</c> needs it: APIC-register virtualization, virtual-interrupt delivery, posted interrupts.
    /// </summary>
    public bool HasApicv =>
        MayBeOne(VmxControl.SecondaryProcessorBased, SecondaryApicRegisterVirtualization | SecondaryVirtualInterruptDelivery)
        && MayBeOne(VmxControl.PinBased, PinPostedInterrupts);

    /// <summary>Page-modification logging: secondary bit 17, with EPT and EPT accessed/dirty flags (EPT_VPID_CAP bit 21).</summary>
    public bool HasPml =>
        MayBeOne(VmxControl.SecondaryProcessorBased, SecondaryEnablePml | SecondaryEnableEpt) && (EptVpidCap & (1ul << 21)) != 0;

    /// <summary>The VMX-preemption timer: pin-based bit 6.</summary>
    public bool HasPreemptionTimer => MayBeOne(VmxControl.PinBased, PinPreemptionTimer);

    /// <summary>
    /// Whether the CPU has a manifest feature, by its manifest name; false for a name this model does not know, so the
    /// fields it gates stay intercepted and emulated (the safe choice).
    /// </summary>
    public bool Has(string feature) => feature switch
    {
        "apicv" => HasApicv,
        "pml" => HasPml,
        "preemption-timer" => HasPreemptionTimer,
        _ => false,
    };

    /// <summary>The features this model can answer for.</summary>
    public static IReadOnlyList<string> KnownFeatures { get; } = ["apicv", "pml", "preemption-timer"];

    /// <summary>Bits that must be 1 (allowed-0 settings are 1).</summary>
    public uint MustBeOne(VmxControl control) => (uint)_controls[(int)control].MustBeOne;

    /// <summary>Bits that may be 1 (allowed-1 settings).</summary>
    public ulong Allowed1(VmxControl control) => _controls[(int)control].MayBeOne;

    public bool MayBeOne(VmxControl control, ulong bits) => (Allowed1(control) & bits) == bits;

    /// <summary>
    /// The value to write for <paramref name="desired"/>: the desired bits plus every bit that must be 1.
    /// </summary>
    /// <exception cref="VmxCapabilityException">The desired value sets bits the CPU does not allow; the message names them.</exception>
    public ulong Adjust(VmxControl control, ulong desired)
    {
        var forbidden = desired & ~Allowed1(control);
        if (forbidden != 0)
        {
            throw new VmxCapabilityException(
                $"{control} controls: the CPU does not allow bit(s) {DescribeBits(forbidden)} (desired 0x{desired:X}, allowed-1 0x{Allowed1(control):X}).");
        }

        return desired | MustBeOne(control);
    }

    private void SetControl(VmxControl control, uint msr, string name)
    {
        var value = Require(msr, "IA32_VMX_" + (HasTrueControls ? "TRUE_" : string.Empty) + name);
        _controls[(int)control] = ((uint)value, value >> 32);
    }

    private ulong Require(uint msr, string name) =>
        Msrs.TryGetValue(msr, out var value)
            ? value
            : throw new ArgumentException($"VMX capabilities: {name} (MSR 0x{msr:X}) is missing.", "msrs");

    private static string DescribeBits(ulong bits)
    {
        var list = new List<string>();
        for (var i = 0; i < 64; i++)
        {
            if ((bits & (1ul << i)) != 0)
            {
                list.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return string.Join(", ", list) + $" (0x{bits:X})";
    }
}
