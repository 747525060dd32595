using System;

namespace VmcsGen;

/// <summary>
/// What the nested engine needs from a generated layout, as static abstract members: the generated <c>Layout</c> class of
/// each manifest implements it, and <c>NestedVmx&lt;TLayout, TControls, TBackend&gt;</c> is specialised per layout by the
/// JIT, with no virtual calls. vmcs12 is passed as its bytes (<see cref="Size"/> of them).
/// </summary>
/// <typeparam name="TControls">The layout's generated <c>ControlShadows</c> struct.</typeparam>
public interface IVmcsLayout<TControls>
    where TControls : struct
{
    static abstract string Name { get; }

    static abstract uint Revision { get; }

    static abstract int Size { get; }

    /// <summary>Whether L1 is told it may VMWRITE exit-information fields (the manifest's <c>vmwrite-any</c>).</summary>
    static abstract bool VmwriteAny { get; }

    static abstract ulong AllFeatures { get; }

    static abstract uint AllDirtyGroups { get; }

    /// <summary>Every field's full-access descriptor, in encoding order.</summary>
    static abstract ReadOnlySpan<VmcsFieldDescriptor> Fields { get; }

    static abstract ReadOnlySpan<uint> ReadWriteEncodings { get; }

    static abstract ReadOnlySpan<uint> ReadOnlyEncodings { get; }

    static abstract bool TryGetField(uint encoding, out VmcsFieldDescriptor field);

    static abstract VmxResult Read(Span<byte> vmcs12, uint encoding, out ulong value);

    static abstract VmxResult Write(Span<byte> vmcs12, uint encoding, ulong value);

    static abstract bool TryGetOffsetCompact(uint encoding, out int offset);

    static abstract void BuildBitmaps(ulong features, Span<byte> vmread, Span<byte> vmwrite);

    static abstract uint DirtyGroupOf(uint encoding);

    static abstract VmxResult CopyShadowToVmcs12<TVmcs>(ref TVmcs shadow, Span<byte> vmcs12, ulong features)
        where TVmcs : struct, IVmcs;

    static abstract VmxResult CopyVmcs12ToShadow<TVmcs>(ref TVmcs shadow, Span<byte> vmcs12, ulong features)
        where TVmcs : struct, IVmcs;

    static abstract VmxResult SyncVmcs02ToVmcs12<TVmcs>(ref TVmcs vmcs02, Span<byte> vmcs12, ulong features)
        where TVmcs : struct, IVmcs;

    static abstract VmxResult SyncVmcs02ToVmcs12Rare<TVmcs>(ref TVmcs vmcs02, Span<byte> vmcs12, ulong features)
        where TVmcs : struct, IVmcs;

    static abstract VmxResult PrepareVmcs02<TVmcs>(ref TVmcs vmcs02, Span<byte> vmcs12, uint dirty, ulong features, ref TControls controls)
        where TVmcs : struct, IVmcs;
}

/// <summary>
/// A backend the nested engine can run on: besides the VMCS instructions, VMLAUNCH/VMRESUME of the current VMCS, and
/// L1's VMREAD/VMWRITE in VMX non-root operation with VMCS shadowing, which go to the VMCS named by the current VMCS's
/// link pointer without a VM exit (the engine has checked the bitmaps).
/// </summary>
public interface INestedVmcs : IVmcs
{
    VmxResult VmLaunch();

    VmxResult VmResume();

    VmxResult GuestVmRead(uint encoding, out ulong value);

    VmxResult GuestVmWrite(uint encoding, ulong value);

    /// <summary>
    /// The guest's VMREAD in VMX non-root operation on the current VMCS, decided by the processor: a shadow access
    /// (VMsucceed/VMfail) or a VM exit (<see cref="Software.InstructionOutcomeKind.VmExit"/>), from "VMCS shadowing", the
    /// VMREAD bitmap in memory and the link pointer.
    /// </summary>
    Software.InstructionOutcome NonRootVmRead(ulong encoding, out ulong value);

    /// <summary>The guest's VMWRITE in VMX non-root operation (see <see cref="NonRootVmRead"/>).</summary>
    Software.InstructionOutcome NonRootVmWrite(ulong encoding, ulong value);

    /// <summary>Writes the processor's memory (the VMM puts its VMREAD/VMWRITE bitmaps there).</summary>
    void WriteMemory(ulong address, ReadOnlySpan<byte> data);
}
