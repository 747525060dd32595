namespace VmcsGen.Backends.Kvm;

/// <summary>
/// The host cannot do what was asked: no /dev/kvm, no permission, no VMX, nested VMX off, no nested state. Says which
/// (<see cref="Reason"/>).
/// </summary>
public sealed class KvmUnavailableException : KvmException
{
    public KvmUnavailableException(string message)
        : this(KvmUnavailableReason.Unspecified, message)
    {
    }

    public KvmUnavailableException(KvmUnavailableReason reason, string message)
        : base(message) => Reason = reason;

    public KvmUnavailableReason Reason { get; }
}
