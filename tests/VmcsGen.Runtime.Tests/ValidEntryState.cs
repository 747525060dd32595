using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// The fields of a VMCS that passes every modelled VM-entry check on a profile: 64-bit host and guest, flat state, the
/// controls' must-be-one bits, no link pointer. The processor tests load it into a VMCS, the engine tests into vmcs12.
/// </summary>
internal static class ValidEntryState
{
    public static (uint Encoding, ulong Value)[] For(VmxProfile profile)
    {
        var caps = profile.Capabilities;
        return
        [
            (0x4000, caps.MustBeOne(VmxControl.PinBased)),
            (0x4002, caps.MustBeOne(VmxControl.PrimaryProcessorBased)),
            (0x400C, caps.MustBeOne(VmxControl.VmExit) | (1u << 9)), // host address-space size
            (0x4012, caps.MustBeOne(VmxControl.VmEntry) | (1u << 9)), // IA-32e mode guest
            (0x6C00, 0x8005_0033), (0x6C04, 0x2020), (0x0C02, 0x08), (0x0C0C, 0x10), (0x6C16, 0xFFFF_FFFF_8100_0000),
            (0x6800, 0x8005_0033), (0x6804, 0x2020), (0x6820, 0x2), (0x4822, 0x8B), (0x2800, ulong.MaxValue),
        ];
    }
}
