using System.Collections.Generic;

namespace VmcsGen.Bochs;

/// <summary>
/// The guest's physical memory map (identity-mapped; linear = physical, as in <see cref="Software.PhysicalMemory"/>).
/// Programs own the data area: VMXON and VMCS regions, pointer operands and VMREAD/VMWRITE memory operands live there.
/// </summary>
public static class GuestLayout
{
    /// <summary>Where the boot sector loads the rest of the image (conventional memory up to <see cref="ImageEnd"/>).</summary>
    public const uint ImageBase = 0x10000;

    /// <summary>The end of the loadable image (the EBDA starts above).</summary>
    public const uint ImageEnd = 0x9F000;

    internal const uint Gdt = 0x10000, Tss64 = 0x10100, Tss32 = 0x10200, Idt64 = 0x11000, Idt32 = 0x12000;

    // Variables shared by the runtime and the program code.
    internal const uint VarId = 0x13000, VarResume = 0x13008, VarFlags = 0x13010, VarValue = 0x13018, VarCont = 0x13020,
        VarValue2 = 0x13028, VarExitTarget = 0x13030, VarInGuest = 0x13038, GdtDescriptor = 0x13040, Idt64Descriptor = 0x13050, Idt32Descriptor = 0x13060,
            VarExitInfo = 0x13080;

    internal const uint Runtime32 = 0x14000, Runtime64 = 0x1A000;

    /// <summary>Where the program code starts.</summary>
    public const uint ProgramsStart = 0x20000;

    internal const uint Pml4 = 0x100000, Pdpt = 0x101000, Pd64 = 0x102000, Pt64 = 0x103000, Pd32 = 0x104000, Pt32 = 0x105000;

    /// <summary>The stack (shared by CPL 0 and CPL 3 code) and the stack exceptions from CPL 3 switch to.</summary>
    internal const uint StackTop = 0x180000, InterruptStackTop = 0x170000;

    /// <summary>The programs' data area, zeroed at the start of every program (except the not-present page).</summary>
    public const ulong DataStart = 0x200000, DataEnd = 0x220000;

    /// <summary>A page of the data area that is not present in the page tables of both modes: a memory operand there is a #PF.</summary>
    public const ulong NotPresentPage = 0x210000;

    /// <summary>Guest RAM (bochsrc <c>megs</c>).</summary>
    public const int MemoryMegabytes = 32;

    /// <summary>CR0 while programs run: PG, NE, ET, PE.</summary>
    public const uint Cr0 = 0x8000_0031;

    /// <summary>CR4 in 64-bit mode (VMXE, PAE, PSE) and in 32-bit protected mode (VMXE, PSE).</summary>
    public const uint Cr4Long = 0x2030, Cr4Protected = 0x2010;

    /// <summary>CR3 of each mode: the PML4, or the 32-bit page directory.</summary>
    public static uint Cr3(GuestMode mode) => mode == GuestMode.Long64 ? Pml4 : Pd32;

    /// <summary>
    /// The runner's VM-exit landing for a host in <paramref name="mode"/>: a VMLAUNCH/VMRESUME whose VMCS has this HOST_RIP
    /// (and <see cref="HostState"/>) records the VM exit (reason, qualification, instruction information, guest RIP,
    /// instruction length) as that instruction's outcome and goes on with the program's next step.
    /// </summary>
    public static ulong VmExitHost(GuestMode mode) => ImageBuilder.VmExitHost(mode);

    /// <summary>
    /// The host-state fields (encoding, value) that return to the runner at <see cref="VmExitHost"/> in
    /// <paramref name="mode"/>: control registers, selectors, the TSS, GDT and IDT bases, a stack. A 64-bit host also needs
    /// the "host address-space size" VM-exit control (bit 9).
    /// </summary>
    public static IReadOnlyDictionary<uint, ulong> HostState(GuestMode mode) => new Dictionary<uint, ulong>
    {
        [0x6C00] = Cr0,
        [0x6C02] = Cr3(mode),
        [0x6C04] = mode == GuestMode.Long64 ? Cr4Long : Cr4Protected,
        [0x0C00] = 0x10, // ES
        [0x0C02] = mode == GuestMode.Long64 ? 0x18u : 0x08u, // CS
        [0x0C04] = 0x10, // SS
        [0x0C06] = 0x10, // DS
        [0x0C08] = 0, // FS
        [0x0C0A] = 0, // GS
        [0x0C0C] = mode == GuestMode.Long64 ? 0x38u : 0x48u, // TR
        [0x6C06] = 0, // FS base
        [0x6C08] = 0, // GS base
        [0x6C0A] = mode == GuestMode.Long64 ? Tss64 : Tss32,
        [0x6C0C] = Gdt,
        [0x6C0E] = mode == GuestMode.Long64 ? Idt64 : Idt32,
        [0x6C14] = StackTop - 0x1000, // RSP: the landing resets the stack itself
        [0x6C16] = VmExitHost(mode),
    };

    /// <summary>
    /// Guest-state fields (encoding, value) for a 64-bit L1 guest at CPL 0 that shares the runner's world: its control
    /// registers, flat segments, GDT, IDT and TSS (the same exception handlers record the guest's exceptions), no LDT,
    /// RFLAGS 2, DR7 0x400, active, not blocked. With the "IA-32e mode guest" VM-entry control (bit 9). GUEST_RIP and
    /// GUEST_RSP are set by <see cref="EnterGuest"/>; the VMCS link pointer is the caller's.
    /// </summary>
    public static IReadOnlyDictionary<uint, ulong> GuestState64 { get; } = new Dictionary<uint, ulong>
    {
        [0x6800] = Cr0, [0x6802] = Pml4, [0x6804] = Cr4Long, [0x681A] = 0x400, [0x6820] = 2,
        [0x0800] = 0x10, [0x0802] = 0x18, [0x0804] = 0x10, [0x0806] = 0x10, [0x0808] = 0x10, [0x080A] = 0x10, [0x080C] = 0, [0x080E] = 0x38,
        [0x4800] = 0xFFFF_FFFF, [0x4802] = 0xFFFF_FFFF, [0x4804] = 0xFFFF_FFFF, [0x4806] = 0xFFFF_FFFF, [0x4808] = 0xFFFF_FFFF, [0x480A] = 0xFFFF_FFFF,
        [0x480C] = 0, [0x480E] = 0x67, [0x4810] = 0x4F, [0x4812] = 0xFFF,
        [0x4814] = 0xC093, [0x4816] = 0xA09B, [0x4818] = 0xC093, [0x481A] = 0xC093, [0x481C] = 0xC093, [0x481E] = 0xC093,
        [0x4820] = 0x1_0000, [0x4822] = 0x8B, // LDTR unusable, TR a busy 64-bit TSS
        [0x6806] = 0, [0x6808] = 0, [0x680A] = 0, [0x680C] = 0, [0x680E] = 0, [0x6810] = 0, [0x6812] = 0, [0x6814] = Tss64,
        [0x6816] = Gdt, [0x6818] = Idt64,
        [0x4824] = 0, [0x4826] = 0, [0x6822] = 0, [0x2802] = 0,
    };

    /// <summary>Whether [address, address + size) lies in the data area and avoids the not-present page.</summary>
    public static bool IsWritable(ulong address, int size) =>
        address >= DataStart && address + (ulong)size <= DataEnd && (address + (ulong)size <= NotPresentPage || address >= NotPresentPage + 0x1000);

    /// <summary>
    /// Whether an 8-byte memory operand at <paramref name="address"/> is one a program may use (the data area, the not-present page included).
    /// </summary>
    public static bool IsOperandAddress(ulong address) => address >= DataStart && address + 8 <= DataEnd;
}
