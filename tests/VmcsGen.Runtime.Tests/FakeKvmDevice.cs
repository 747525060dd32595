using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using VmcsGen.Backends.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>
/// A scripted /dev/kvm: records every call's request and argument bytes and answers as KVM 6.12 does
/// (arch/x86/kvm/x86.c, vmx/vmx.c, vmx/nested.c, read for this fake; the rules are written here independently of the
/// runtime so that a launch the runtime builds wrongly fails here as it would on the host):
/// <list type="bullet">
/// <item>the vendor module and <c>kvm_intel</c>'s <c>nested</c> parameter (<see cref="Host"/>, <see cref="NestedVmx"/>):
/// with <c>nested=0</c>, <c>vmx_get_feature_msr</c> (<c>vmx_get_msr_feature</c> before 6.10) refuses the IA32_VMX_* MSRs so
/// <c>kvm_init_msr_lists</c> leaves them out of KVM_GET_MSR_FEATURE_INDEX_LIST, <c>vmx_set_cpu_caps</c> leaves CPUID.1:ECX.VMX
/// out of KVM_GET_SUPPORTED_CPUID, yet KVM_CAP_NESTED_STATE stays <c>vmx_get_nested_state(NULL)</c> = 128 + 8192;</item>
/// <item>KVM_SET_NESTED_STATE's vCPU rules (<c>vmx_set_nested_state</c>): VMX operation needs VMX in the vCPU's CPUID
/// (<c>guest_cpu_cap_has</c>, which <c>vmx_vcpu_after_set_cpuid</c> grants only when KVM has the cap, i.e. nested=1); in
/// guest mode vmcs12's host and guest CR0/CR4 must satisfy <c>fixed_bits_valid</c> (nested.h <c>nested_host_cr0_valid</c>,
/// <c>nested_cr4_valid</c>) with fixed0 from the VMX MSRs and fixed1 from <c>nested_vmx_cr_fixed1_bits_update</c>
/// (CR0: all ones; CR4: PCE plus the bits the vCPU's CPUID grants);</item>
/// <item>KVM_RUN: scripted (<see cref="Runs"/>: EINTR, failure exits) or, once a guest-mode state is set, a two-step
/// model of this launch: L2 at its entry RIP executing CPUID exits to L1 (exit reason 10, length 2, qualification 0,
/// nested_vmx_vmexit), L1 resumes at vmcs12's HOST_RIP, and <c>out imm8, al</c> there is KVM_EXIT_IO; anything else
/// is KVM_EXIT_INTERNAL_ERROR, suberror 1 (emulation).</item>
/// </list>
/// </summary>
internal sealed partial class FakeKvmDevice : IKvmDevice, IDisposable
{
    private int _nextFd = 10;
    private int _systemFd = -1;
    private nint _run;
    private int _runLength;
    private List<KvmCpuidEntry> _cpuid = [];
    private byte[]? _nestedState;
    private ulong _memoryAddress;
    private ulong _memorySize;

    public FakeKvmHost Host { get; set; } = FakeKvmHost.Intel;

    /// <summary>kvm_intel's <c>nested</c> module parameter.</summary>
    public bool NestedVmx { get; set; } = true;

    /// <summary>Whether /sys/module/&lt;vendor&gt;/parameters/nested can be read (false: as from a container without /sys/module).</summary>
    public bool SysfsReadable { get; set; } = true;

    /// <summary>The VMX capability MSRs KVM offers L1 when nested=1 (vmcs_config.nested).</summary>
    public Dictionary<uint, ulong> VmxMsrs { get; } = new(VmxProfile.ReferenceCpu);

    public List<(string Request, byte[] Argument)> Calls { get; } = [];

    public List<int> Closed { get; } = [];

    public Dictionary<string, int> FailWith { get; } = [];

    public int ApiVersion { get; set; } = 12;

    public byte[]? NestedStateToReturn { get; set; }

    /// <summary>Scripted KVM_RUNs, taken in order before the model.</summary>
    public Queue<FakeRun> Runs { get; } = new();

    /// <summary>The register file as KVM_RUN finds it: RIP, RSP, RFLAGS, RAX (L2's once a guest-mode state is set).</summary>
    public (ulong Rip, ulong Rsp, ulong Rflags, ulong Rax) Registers { get; private set; }

    /// <summary>Whether the vCPU is in guest mode (L2), as KVM_SET_NESTED_STATE with KVM_STATE_NESTED_GUEST_MODE leaves it.</summary>
    public bool GuestMode { get; private set; }

    public int NestedStateSize => Host switch
    {
        FakeKvmHost.Intel => 128 + (2 * 4096),
        FakeKvmHost.Amd => 128 + 4096,
        _ => 0,
    };

    /// <summary>The feature MSRs this development machine's KVM lists (KvmProbe), plus the VMX ones when kvm_intel has nested=1.</summary>
    public IReadOnlyList<uint> FeatureMsrIndices =>
        new uint[] { 0x8B, 0x10A, 0x345, 0xCE }.Concat(Host == FakeKvmHost.Intel && NestedVmx ? VmxMsrs.Keys.Order() : []).ToList();

    public int Open(string path, out int errno)
    {
        errno = 0;
        _systemFd = _nextFd;
        return _nextFd++;
    }

    public string? ReadHostFile(string path)
    {
        var module = Host switch { FakeKvmHost.Intel => "kvm_intel", FakeKvmHost.Amd => "kvm_amd", _ => "kvm_pvm" };
        if (!SysfsReadable || !path.StartsWith("/sys/module/", StringComparison.Ordinal))
        {
            return null;
        }

        if (path == $"/sys/module/{module}/parameters/nested" && Host != FakeKvmHost.NoNested)
        {
            return Host == FakeKvmHost.Intel ? (NestedVmx ? "Y" : "N") : "1";
        }

        return path == $"/sys/module/{module}" ? string.Empty : null;
    }

    public int Ioctl(SafeHandle fd, nuint request, nint argument, out int errno)
    {
        var name = Name(request);
        Calls.Add((name, BitConverter.GetBytes((long)argument)));
        if (FailWith.TryGetValue(name, out errno))
        {
            return -1;
        }

        errno = 0;
        switch (name)
        {
            case "KVM_GET_API_VERSION":
                return ApiVersion;
            case "KVM_CREATE_VM" or "KVM_CREATE_VCPU":
                return _nextFd++;
            case "KVM_CHECK_EXTENSION":
                return argument == KvmCapNestedState ? NestedStateSize : 1;
            case "KVM_GET_VCPU_MMAP_SIZE":
                return 3 * 4096;
            case "KVM_RUN":
                return RunOnce(out errno);
            default:
                return 0;
        }
    }

    public int Ioctl(SafeHandle fd, nuint request, Span<byte> argument, out int errno)
    {
        var name = Name(request);
        if (FailWith.TryGetValue(name, out errno))
        {
            Calls.Add((name, argument.ToArray()));
            return -1;
        }

        errno = 0;
        var result = 0;
        switch (name)
        {
            case "KVM_GET_SUPPORTED_CPUID":
                KvmStructs.WriteCpuid2(argument, SupportedCpuid());
                break;
            case "KVM_GET_MSR_FEATURE_INDEX_LIST":
                var indices = FeatureMsrIndices;
                var room = BinaryPrimitives.ReadUInt32LittleEndian(argument);
                BinaryPrimitives.WriteUInt32LittleEndian(argument, (uint)indices.Count);
                if (room < indices.Count)
                {
                    errno = E2Big;
                    result = -1;
                    break;
                }

                for (var i = 0; i < indices.Count; i++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(argument[(4 + (4 * i))..], indices[i]);
                }

                break;
            case "KVM_GET_MSRS" when (int)fd.DangerousGetHandle() == _systemFd:
                result = ReadFeatureMsrs(argument);
                break;
            case "KVM_SET_MSRS":
                result = (int)BinaryPrimitives.ReadUInt32LittleEndian(argument);
                break;
            case "KVM_SET_CPUID2":
                _cpuid = KvmStructs.ReadCpuid2(argument).ToList();
                break;
            case "KVM_SET_USER_MEMORY_REGION":
                _memorySize = BinaryPrimitives.ReadUInt64LittleEndian(argument[16..]);
                _memoryAddress = BinaryPrimitives.ReadUInt64LittleEndian(argument[24..]);
                break;
            case "KVM_SET_REGS":
                Registers = (BinaryPrimitives.ReadUInt64LittleEndian(argument[128..]), BinaryPrimitives.ReadUInt64LittleEndian(argument[48..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(argument[136..]), BinaryPrimitives.ReadUInt64LittleEndian(argument));
                break;
            case "KVM_SET_NESTED_STATE":
                errno = SetNestedState(argument);
                result = errno == 0 ? 0 : -1;
                break;
            case "KVM_GET_NESTED_STATE":
                GetNestedState(argument);
                break;
        }

        Calls.Add((name, argument.ToArray()));
        return result;
    }

    public nint Map(SafeHandle fd, nuint length, out int errno)
    {
        errno = 0;
        _runLength = (int)length;
        _run = Marshal.AllocHGlobal(_runLength);
        Marshal.Copy(new byte[_runLength], 0, _run, _runLength);
        return _run;
    }

    public void Unmap(nint address, nuint length) => Marshal.FreeHGlobal(address);

    public int Close(int fd)
    {
        Closed.Add(fd);
        return 0;
    }

    public void Dispose()
    {
    }

    public IEnumerable<string> Sequence => Calls.Select(c => c.Request);

    public byte[] Argument(string request) => Calls.Last(c => c.Request == request).Argument;

    private const int KvmCapNestedState = 157, E2Big = 7, Einval = 22;

    private IReadOnlyList<KvmCpuidEntry> SupportedCpuid()
    {
        // Leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, APIC, PGE, FXSR, SSE, SSE2; ECX: the hypervisor bit, and VMX only where
        // vmx_set_cpu_caps sets it (kvm_intel with nested=1).
        const uint edx = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 9) | (1u << 13) | (1u << 24) | (1u << 25) | (1u << 26);
        var ecx = 0x8000_0000u | (Host == FakeKvmHost.Intel && NestedVmx ? 1u << 5 : 0);
        return [new KvmCpuidEntry(0, 0, 0, 0xD, 0, 0, 0), new KvmCpuidEntry(1, 0, 0, 0x506E3, 0, ecx, edx)];
    }

    private int ReadFeatureMsrs(Span<byte> argument)
    {
        // msr_io → __msr_io: entries are read in order and the count read is returned; it stops at the first refused MSR.
        var count = (int)BinaryPrimitives.ReadUInt32LittleEndian(argument);
        var offered = FeatureMsrIndices;
        for (var i = 0; i < count; i++)
        {
            var entry = argument[(8 + (16 * i))..];
            var index = BinaryPrimitives.ReadUInt32LittleEndian(entry);
            if (!offered.Contains(index))
            {
                return i;
            }

            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], VmxMsrs.GetValueOrDefault(index));
        }

        return count;
    }

    private static string Name(nuint request) => KvmIoctls.Name(request);
}
