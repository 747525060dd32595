namespace VmcsGen.Backends.Kvm;

/// <summary>The ioctl numbers of include/uapi/linux/kvm.h (x86-64): _IO/_IOR/_IOW/_IOWR(KVMIO = 0xAE, nr, size).</summary>
internal static partial class KvmIoctls
{
    private const uint None = 0, Write = 1, Read = 2;

    public static readonly nuint GetApiVersion = Io(0x00);
    public static readonly nuint CreateVm = Io(0x01);
    public static readonly nuint CheckExtension = Io(0x03);
    public static readonly nuint GetVcpuMmapSize = Io(0x04);
    public static readonly nuint GetSupportedCpuid = Ioc(Read | Write, 0x05, KvmStructs.Cpuid2HeaderSize);
    public static readonly nuint GetMsrFeatureIndexList = Ioc(Read | Write, 0x0A, 4);   // struct kvm_msr_list { __u32 nmsrs; __u32 indices[]; }
    public static readonly nuint CreateVcpu = Io(0x41);
    public static readonly nuint SetUserMemoryRegion = Ioc(Write, 0x46, KvmStructs.UserMemoryRegionSize);
    public static readonly nuint Run = Io(0x80);
    public static readonly nuint GetRegs = Ioc(Read, 0x81, KvmRegs.Size);
    public static readonly nuint SetRegs = Ioc(Write, 0x82, KvmRegs.Size);
    public static readonly nuint GetSregs = Ioc(Read, 0x83, KvmSregs.Size);
    public static readonly nuint SetSregs = Ioc(Write, 0x84, KvmSregs.Size);
    // struct kvm_msrs { __u32 nmsrs, pad; struct kvm_msr_entry entries[]; }
    public static readonly nuint GetMsrs = Ioc(Read | Write, 0x88, KvmStructs.MsrsHeaderSize);
    public static readonly nuint SetMsrs = Ioc(Write, 0x89, KvmStructs.MsrsHeaderSize);
    public static readonly nuint SetCpuid2 = Ioc(Write, 0x90, KvmStructs.Cpuid2HeaderSize);
    public static readonly nuint GetNestedState = Ioc(Read | Write, 0xBE, KvmNestedState.HeaderSize);
    public static readonly nuint SetNestedState = Ioc(Write, 0xBF, KvmNestedState.HeaderSize);

    public const int ApiVersion = 12;
    public const int CapGetMsrFeatures = 153;
    public const int CapNestedState = 157;

    public static string Name(nuint request) =>
        request == GetApiVersion ? "KVM_GET_API_VERSION"
        : request == CreateVm ? "KVM_CREATE_VM"
        : request == CheckExtension ? "KVM_CHECK_EXTENSION"
        : request == GetVcpuMmapSize ? "KVM_GET_VCPU_MMAP_SIZE"
        : request == GetSupportedCpuid ? "KVM_GET_SUPPORTED_CPUID"
        : request == GetMsrFeatureIndexList ? "KVM_GET_MSR_FEATURE_INDEX_LIST"
        : request == CreateVcpu ? "KVM_CREATE_VCPU"
        : request == SetUserMemoryRegion ? "KVM_SET_USER_MEMORY_REGION"
        : request == Run ? "KVM_RUN"
        : request == GetRegs ? "KVM_GET_REGS"
        : request == SetRegs ? "KVM_SET_REGS"
        : request == GetSregs ? "KVM_GET_SREGS"
        : request == SetSregs ? "KVM_SET_SREGS"
        : request == GetMsrs ? "KVM_GET_MSRS"
        : request == SetMsrs ? "KVM_SET_MSRS"
        : request == SetCpuid2 ? "KVM_SET_CPUID2"
        : request == GetNestedState ? "KVM_GET_NESTED_STATE"
        : request == SetNestedState ? "KVM_SET_NESTED_STATE"
        : $"ioctl 0x{request:X}";

    private static nuint Io(uint nr) => Ioc(None, nr, 0);

    private static nuint Ioc(uint direction, uint nr, int size) => (nuint)((direction << 30) | ((uint)size << 16) | (0xAEu << 8) | nr);
}
