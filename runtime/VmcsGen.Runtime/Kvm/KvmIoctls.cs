namespace VmcsGen.Backends.Kvm;

/// <summary>KVM ioctl request numbers for x86-64 (include/uapi/linux/kvm.h): _IOC(dir, 0xAE, nr, size).</summary>
internal static class KvmIoctls
{
    private const uint None = 0, Write = 1, Read = 2;

    public static readonly nuint GetApiVersion = Io(0x00);
    public static readonly nuint CreateVm = Io(0x01);
    public static readonly nuint CheckExtension = Io(0x03);
    public static readonly nuint GetMsrFeatureIndexList = Ioc(Read | Write, 0x0A, 4);   // struct kvm_msr_list { __u32 nmsrs; __u32 indices[]; }
    public static readonly nuint CreateVcpu = Io(0x41);
    public static readonly nuint GetMsrs = Ioc(Read | Write, 0x88, 8);                  // struct kvm_msrs { __u32 nmsrs, pad; struct kvm_msr_entry entries[]; }
    public static readonly nuint GetNestedState = Ioc(Read | Write, 0xBE, KvmNestedState.HeaderSize);
    public static readonly nuint SetNestedState = Ioc(Write, 0xBF, KvmNestedState.HeaderSize);

    public const int ApiVersion = 12;
    public const int CapGetMsrFeatures = 153;
    public const int CapNestedState = 157;

    public static string Name(nuint request) =>
        request == GetApiVersion ? "KVM_GET_API_VERSION"
        : request == CreateVm ? "KVM_CREATE_VM"
        : request == CheckExtension ? "KVM_CHECK_EXTENSION"
        : request == GetMsrFeatureIndexList ? "KVM_GET_MSR_FEATURE_INDEX_LIST"
        : request == CreateVcpu ? "KVM_CREATE_VCPU"
        : request == GetMsrs ? "KVM_GET_MSRS"
        : request == GetNestedState ? "KVM_GET_NESTED_STATE"
        : request == SetNestedState ? "KVM_SET_NESTED_STATE"
        : $"ioctl 0x{request:X}";

    private static nuint Io(uint nr) => Ioc(None, nr, 0);

    private static nuint Ioc(uint direction, uint nr, int size) => (nuint)((direction << 30) | ((uint)size << 16) | (0xAEu << 8) | nr);
}
