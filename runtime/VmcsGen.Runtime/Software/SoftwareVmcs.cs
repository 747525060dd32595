using System.Runtime.CompilerServices;

namespace VmcsGen.Software;

/// <summary>
/// The struct backend over a <see cref="SoftwareVmx"/>: VMX instructions act on its current VMCS, exactly as on hardware.
/// Being a struct, it lets generic engine and copy-loop code specialise per backend.
/// </summary>
public readonly struct SoftwareVmcs : INestedVmcs, IVmcsHandle
{
    private readonly SoftwareVmx _processor;

    public SoftwareVmcs(SoftwareVmx processor) => _processor = processor;

    public SoftwareVmx Processor => _processor;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmRead(uint encoding, out ulong value) => _processor.VmRead(encoding, out value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VmxResult VmWrite(uint encoding, ulong value) => _processor.VmWrite(encoding, value);

    public VmxResult VmPtrLd(ulong address) => _processor.VmPtrLd(address);

    public VmxResult VmClear(ulong address) => _processor.VmClear(address);

    public VmxResult GuestVmRead(uint encoding, out ulong value) => _processor.GuestVmRead(encoding, out value);

    public VmxResult GuestVmWrite(uint encoding, ulong value) => _processor.GuestVmWrite(encoding, value);

    /// <summary>VMLAUNCH on the current VMCS (launch-state checks only; no guest runs).</summary>
    public InstructionOutcome NonRootVmRead(ulong encoding, out ulong value) => _processor.NonRootVmRead(encoding, out value);

    public InstructionOutcome NonRootVmWrite(ulong encoding, ulong value) => _processor.NonRootVmWrite(encoding, value);

    public void WriteMemory(ulong address, System.ReadOnlySpan<byte> data) => _processor.Memory.Write(address, data);

    public VmxResult VmLaunch() => _processor.VmLaunch();

    /// <summary>VMRESUME on the current VMCS (launch-state checks only; no guest runs).</summary>
    public VmxResult VmResume() => _processor.VmResume();
}
