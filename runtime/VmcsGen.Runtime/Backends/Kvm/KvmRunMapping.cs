using System.Runtime.InteropServices;

namespace VmcsGen.Backends.Kvm;

/// <summary>
/// A vCPU's shared <c>struct kvm_run</c>, mapped from the vCPU fd by <see cref="IKvmDevice.Map"/> and owned here: a
/// <see cref="SafeBuffer"/> (reads are bounds-checked and hold the handle) whose <see cref="ReleaseHandle"/> unmaps it
/// through the same device.
/// </summary>
internal sealed class KvmRunMapping : SafeBuffer
{
    private readonly IKvmDevice _device;

    /// <summary>Takes ownership of <paramref name="address"/>, a mapping of <paramref name="length"/> bytes the device returned.</summary>
    public KvmRunMapping(IKvmDevice device, nint address, nuint length)
        : base(ownsHandle: true)
    {
        _device = device;
        SetHandle(address);
        Initialize(length);
    }

    protected override bool ReleaseHandle()
    {
        _device.Unmap(handle, (nuint)ByteLength);
        return true;
    }
}
