using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using VmcsGen.Backends.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Runtime.Tests;

/// <summary>Which vendor module backs the fake /dev/kvm.</summary>
public enum FakeKvmHost
{
    /// <summary>kvm_intel: VMX. Its nested-state size is 128 + 2 × 4096 whatever <c>nested</c> is.</summary>
    Intel,

    /// <summary>kvm_amd: SVM, no VMX; nested-state size 128 + 4096.</summary>
    Amd,

    /// <summary>A KVM with no nested_ops state hooks (this development machine's kvm_pvm): KVM_CAP_NESTED_STATE is 0.</summary>
    NoNested,
}

/// <summary>One scripted KVM_RUN: fail with <see cref="Errno"/>, or return with <see cref="Fill"/> writing <c>struct kvm_run</c>.</summary>
internal sealed record FakeRun(int Errno = 0, Action<byte[]>? Fill = null);

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
internal sealed class FakeKvmDevice : IKvmDevice, IDisposable
{
    // struct vmcs12 offsets (vmx/vmcs12.h CHECK_OFFSET), written out here rather than taken from the generated layout.
    private const int Vmcs12GuestCr0 = 424, Vmcs12GuestCr4 = 440, Vmcs12GuestRsp = 536, Vmcs12GuestRip = 544, Vmcs12GuestRflags = 552;
    private const int Vmcs12HostCr0 = 584, Vmcs12HostCr4 = 600, Vmcs12HostRsp = 664, Vmcs12HostRip = 672;
    private const int Vmcs12ExitQualification = 408, Vmcs12ExitReason = 812, Vmcs12ExitInstructionLen = 832;

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

    /// <summary>The CR4 bits <c>nested_vmx_cr_fixed1_bits_update</c> (vmx/vmx.c) allows for a vCPU with this CPUID.</summary>
    public static ulong Cr4Fixed1(IReadOnlyList<KvmCpuidEntry> cpuid)
    {
        var leaf1 = cpuid.FirstOrDefault(e => e.Function == 1);
        var leaf7 = cpuid.FirstOrDefault(e => e.Function == 7 && e.Index == 0);
        var leaf71 = cpuid.FirstOrDefault(e => e.Function == 7 && e.Index == 1);
        var fixed1 = 1ul << 8; // PCE
        void Grant(int cr4Bit, uint register, int cpuidBit)
        {
            if ((register & (1u << cpuidBit)) != 0)
            {
                fixed1 |= 1ul << cr4Bit;
            }
        }

        // (CR4 bit, CPUID register, CPUID bit) as the kernel lists them: VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, OSFXSR, OSXMMEXCPT …
        Grant(0, leaf1.Edx, 1);
        Grant(1, leaf1.Edx, 1);
        Grant(2, leaf1.Edx, 4);
        Grant(3, leaf1.Edx, 2);
        Grant(4, leaf1.Edx, 3);
        Grant(5, leaf1.Edx, 6);
        Grant(6, leaf1.Edx, 7);
        Grant(7, leaf1.Edx, 13);
        Grant(9, leaf1.Edx, 24);
        Grant(10, leaf1.Edx, 25);
        Grant(13, leaf1.Ecx, 5);   // VMXE ← VMX
        Grant(14, leaf1.Ecx, 6);   // SMXE ← SMX
        Grant(17, leaf1.Ecx, 17);  // PCIDE ← PCID
        Grant(18, leaf1.Ecx, 26);  // OSXSAVE ← XSAVE
        Grant(16, leaf7.Ebx, 0);   // FSGSBASE
        Grant(20, leaf7.Ebx, 7);   // SMEP
        Grant(21, leaf7.Ebx, 20);  // SMAP
        Grant(22, leaf7.Ecx, 3);   // PKE ← PKU
        Grant(11, leaf7.Ecx, 2);   // UMIP
        Grant(12, leaf7.Ecx, 16);  // LA57
        Grant(28, leaf71.Eax, 26); // LAM_SUP ← LAM
        return fixed1;
    }

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

    private int SetNestedState(ReadOnlySpan<byte> blob)
    {
        if (Host != FakeKvmHost.Intel)
        {
            return Einval; // no vmx_set_nested_state: SVM rejects the VMX format, a KVM without nested_ops has no set_state
        }

        var flags = BinaryPrimitives.ReadUInt16LittleEndian(blob);
        var vmxonPa = BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]);
        var vmxInCpuid = _cpuid.Any(e => e.Function == 1 && (e.Ecx & (1u << 5)) != 0);
        if (vmxonPa != ulong.MaxValue && !(vmxInCpuid && NestedVmx))
        {
            return Einval; // !guest_cpu_cap_has(vcpu, X86_FEATURE_VMX)
        }

        if ((flags & 1) == 0)
        {
            _nestedState = blob.ToArray();
            return 0;
        }

        var vmcs12 = blob[128..].ToArray();
        ulong Field(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(vmcs12.AsSpan(offset));
        static bool FixedBitsValid(ulong value, ulong fixed0, ulong fixed1) => ((value & fixed1) | fixed0) == value;
        var cr0Fixed0 = VmxMsrs[VmxMsr.Cr0Fixed0];
        var cr4Fixed0 = VmxMsrs[VmxMsr.Cr4Fixed0];
        const ulong cr0Fixed1 = 0xFFFF_FFFF;
        var cr4Fixed1 = Cr4Fixed1(_cpuid);
        if (!FixedBitsValid(Field(Vmcs12HostCr0), cr0Fixed0, cr0Fixed1) || !FixedBitsValid(Field(Vmcs12HostCr4), cr4Fixed0, cr4Fixed1)
            || !FixedBitsValid(Field(Vmcs12GuestCr0), cr0Fixed0, cr0Fixed1) || !FixedBitsValid(Field(Vmcs12GuestCr4), cr4Fixed0, cr4Fixed1))
        {
            return Einval; // nested_vmx_check_host_state / nested_vmx_check_guest_state
        }

        // prepare_vmcs02: L2's RIP, RSP and RFLAGS come from vmcs12; the other registers stay what they were.
        Registers = (Field(Vmcs12GuestRip), Field(Vmcs12GuestRsp), Field(Vmcs12GuestRflags), Registers.Rax);
        GuestMode = true;
        _nestedState = blob.ToArray();
        return 0;
    }

    private void GetNestedState(Span<byte> argument)
    {
        if (NestedStateToReturn is { } scripted)
        {
            scripted.CopyTo(argument);
            return;
        }

        if (_nestedState is { } state)
        {
            state.CopyTo(argument);
            return;
        }

        // vmx_get_nested_state for a vCPU outside VMX operation: the header, vmxon_pa = vmcs12_pa = -1.
        argument[..128].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(argument[4..], 128);
        BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], ulong.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(argument[16..], ulong.MaxValue);
    }

    private int RunOnce(out int errno)
    {
        errno = 0;
        var run = new byte[_runLength];
        if (Runs.TryDequeue(out var scripted))
        {
            if (scripted.Errno != 0)
            {
                errno = scripted.Errno;
                return -1;
            }

            scripted.Fill?.Invoke(run);
        }
        else if (GuestMode && _nestedState is { } state)
        {
            ModelLaunch(run, state);
        }
        else
        {
            WriteIoExit(run, KvmNestedLaunch.L1Port);
        }

        Marshal.Copy(run, 0, _run, run.Length);
        return 0;
    }

    private void ModelLaunch(byte[] run, byte[] state)
    {
        var vmcs12 = state.AsSpan(128);
        if (!Code(Registers.Rip, 2).SequenceEqual(new byte[] { 0x0F, 0xA2 }))
        {
            WriteInternalError(run, 1);
            return;
        }

        // nested_vmx_vmexit: vmcs12 records the CPUID exit, L1 resumes at HOST_RIP (load_vmcs12_host_state).
        BinaryPrimitives.WriteUInt32LittleEndian(vmcs12[Vmcs12ExitReason..], 10);
        BinaryPrimitives.WriteUInt64LittleEndian(vmcs12[Vmcs12ExitQualification..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(vmcs12[Vmcs12ExitInstructionLen..], 2);
        BinaryPrimitives.WriteUInt64LittleEndian(vmcs12[Vmcs12GuestRip..], Registers.Rip);
        BinaryPrimitives.WriteUInt16LittleEndian(state, 0); // no longer in guest mode
        GuestMode = false;
        var hostRip = BinaryPrimitives.ReadUInt64LittleEndian(vmcs12[Vmcs12HostRip..]);
        Registers = (hostRip, BinaryPrimitives.ReadUInt64LittleEndian(vmcs12[Vmcs12HostRsp..]), 2, Registers.Rax);
        var code = Code(hostRip, 2);
        if (code[0] == 0xE6)
        {
            WriteIoExit(run, code[1]);
        }
        else
        {
            WriteInternalError(run, 1);
        }
    }

    private byte[] Code(ulong address, int length)
    {
        var bytes = new byte[length];
        if (_memoryAddress != 0 && address + (ulong)length <= _memorySize)
        {
            Marshal.Copy((nint)(_memoryAddress + address), bytes, 0, length);
        }

        return bytes;
    }

    public static void WriteIoExit(byte[] run, ushort port)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.Io);
        run[32] = 1; // KVM_EXIT_IO_OUT
        run[33] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(run.AsSpan(34), port);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(36), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(40), 4096);
    }

    public static void WriteInternalError(byte[] run, uint suberror, params ulong[] data)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.InternalError);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(32), suberror);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(36), (uint)data.Length);
        for (var i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(40 + (8 * i)), data[i]);
        }
    }

    public static void WriteFailEntry(byte[] run, ulong reason, uint cpu)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(8), KvmRunExit.FailEntry);
        BinaryPrimitives.WriteUInt64LittleEndian(run.AsSpan(32), reason);
        BinaryPrimitives.WriteUInt32LittleEndian(run.AsSpan(40), cpu);
    }

    private static string Name(nuint request) =>
        typeof(KvmNestedState).Assembly.GetType("VmcsGen.Backends.Kvm.KvmIoctls")!.GetMethod("Name")!.Invoke(null, [request]) as string ?? "?";
}
