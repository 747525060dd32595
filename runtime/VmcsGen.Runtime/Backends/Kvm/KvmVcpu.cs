using System;
using System.Buffers.Binary;
using System.Collections.Generic;

namespace VmcsGen.Backends.Kvm;

/// <summary>A vCPU: registers, CPUID, MSRs, KVM_RUN and its nested VMX state.</summary>
public sealed class KvmVcpu : IDisposable
{
    private readonly KvmFileDescriptor _fd;
    private KvmRunMapping? _run;

    internal KvmVcpu(KvmFileDescriptor fd, KvmVm vm)
    {
        _fd = fd;
        Vm = vm;
    }

    public KvmVm Vm { get; }

    private IKvmDevice Device => Vm.System.Device;

    /// <summary>The buffer size KVM_GET_NESTED_STATE needs (KVM_CAP_NESTED_STATE), or 0 when the host has no nested state.</summary>
    public int NestedStateSize => Vm.System.CheckExtension(KvmIoctls.CapNestedState);

    /// <summary>KVM_SET_CPUID2.</summary>
    public void SetCpuid(IReadOnlyList<KvmCpuidEntry> entries)
    {
        var buffer = new byte[KvmStructs.Cpuid2HeaderSize + (entries.Count * KvmStructs.CpuidEntrySize)];
        KvmStructs.WriteCpuid2(buffer, entries);
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.SetCpuid2, buffer);
    }

    /// <summary>KVM_SET_MSRS; every MSR must be taken (KVM returns how many it set).</summary>
    public void SetMsrs(IReadOnlyList<(uint Index, ulong Value)> msrs)
    {
        var buffer = new byte[KvmStructs.MsrsHeaderSize + (msrs.Count * KvmStructs.MsrEntrySize)];
        KvmStructs.WriteMsrs(buffer, msrs);
        var set = KvmIoctls.Pointer(Device, _fd, KvmIoctls.SetMsrs, buffer);
        if (set != msrs.Count)
        {
            throw new KvmException($"KVM_SET_MSRS on {_fd} set {set} of {msrs.Count} MSRs: MSR 0x{msrs[set].Index:X} was refused");
        }
    }

    public KvmSregs GetSregs()
    {
        var buffer = new byte[KvmSregs.Size];
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.GetSregs, buffer);
        return KvmSregs.Read(buffer);
    }

    public void SetSregs(KvmSregs sregs)
    {
        var buffer = new byte[KvmSregs.Size];
        sregs.Write(buffer);
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.SetSregs, buffer);
    }

    public void SetRegs(KvmRegs regs)
    {
        var buffer = new byte[KvmRegs.Size];
        regs.Write(buffer);
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.SetRegs, buffer);
    }

    /// <summary>
    /// KVM_RUN until the next exit to user space; the exit as <c>struct kvm_run</c> describes it. <c>struct kvm_run</c> is
    /// mapped on the first call and owned by a SafeHandle (<see cref="KvmRunMapping"/>) until <see cref="Dispose"/>.
    /// KVM_RUN is entered again when it returns EINTR (a signal arrived: x86.c <c>vcpu_run</c> stops with KVM_EXIT_INTR;
    /// the .NET runtime signals its threads, and QEMU's <c>kvm_cpu_exec</c> too simply runs again); any other error is a
    /// <see cref="KvmException"/>.
    /// </summary>
    public KvmRunExit Run()
    {
        _run ??= MapRun();

        int runErrno;
        while (Device.Ioctl(_fd, KvmIoctls.Run, 0, out runErrno) < 0)
        {
            if (runErrno != Errno.EINTR)
            {
                throw new KvmException(KvmIoctls.Name(KvmIoctls.Run), _fd.ToString(), runErrno);
            }
        }

        Span<byte> run = stackalloc byte[(int)Math.Min(_run.ByteLength, (ulong)KvmRunExit.DecodedSize)];
        _run.ReadSpan(0, run);
        return KvmRunExit.Read(run);
    }

    /// <summary>KVM_GET_NESTED_STATE: the vCPU's nested state, as its bytes with KVM's blob-only verdict (no vCPU checks on GET).</summary>
    /// <exception cref="KvmUnavailableException">The host has no KVM_CAP_NESTED_STATE.</exception>
    public KvmNestedState GetNestedState()
    {
        var size = RequireNestedState();
        var buffer = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)size);
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.GetNestedState, buffer);
        var used = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4));
        return KvmNestedState.Parse(buffer.AsSpan(0, (int)Math.Min(used, (uint)size)));
    }

    /// <summary>KVM_SET_NESTED_STATE. The state is serialized (and so judged) completely before anything reaches KVM.</summary>
    public void SetNestedState(KvmNestedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        RequireNestedState();
        KvmIoctls.Pointer(Device, _fd, KvmIoctls.SetNestedState, state.Serialize());
    }

    private KvmRunMapping MapRun()
    {
        var size = (nuint)Vm.System.VcpuMmapSize;
        var address = Device.Map(_fd, size, out var errno);
        return address != 0 ? new KvmRunMapping(Device, address, size) : throw new KvmException("mmap(kvm_run)", _fd.ToString(), errno);
    }

    private int RequireNestedState()
    {
        var size = NestedStateSize;
        return size > 0
            ? size
            : throw new KvmUnavailableException(
                KvmUnavailableReason.NoNestedState,
                "this host's KVM has no KVM_CAP_NESTED_STATE (neither kvm_intel nor kvm_amd, or an older kernel that drops the hooks "
                + "with nested off): there is no nested state to get or set");
    }

    public void Dispose()
    {
        _run?.Dispose();
        _fd.Dispose();
    }
}
