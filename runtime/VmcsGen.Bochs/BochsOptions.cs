using System;

namespace VmcsGen.Bochs;

/// <summary>Where Bochs and its firmware are, and how long one boot may take.</summary>
public sealed record BochsOptions
{
    /// <summary>The emulator: a path, or a name looked up on PATH.</summary>
    public string Bochs { get; init; } = "bochs";

    public string Bios { get; init; } = "/usr/share/bochs/BIOS-bochs-latest";

    public string VgaBios { get; init; } = "/usr/share/vgabios/vgabios.bin";

    /// <summary>The CPU model (<c>bochs -help cpu</c> lists them); corei7_skylake_x has VMX with VMCS shadowing.</summary>
    public string CpuModel { get; init; } = "corei7_skylake_x";

    /// <summary>Per boot; a guest that has not shut down by then is killed and the run fails.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Emulated instructions per emulated second. With <c>clock: sync=none</c> the BIOS's timed waits cost this many
    /// instructions per second they wait: 1 M makes a boot about five times faster than 50 M and changes nothing the
    /// programs see (they run with interrupts off).
    /// </summary>
    public int InstructionsPerSecond { get; init; } = 1_000_000;

    /// <summary>The headless display library's plugin (Debian package bochs-term); Bochs runs without a window through it.</summary>
    public string TermPlugin { get; init; } = "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so";

    /// <summary>The Debian packages that provide the emulator, its term display and the two firmware images.</summary>
    public const string Packages = "bochs bochs-term bochsbios vgabios";
}
