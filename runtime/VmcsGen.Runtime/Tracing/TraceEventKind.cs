namespace VmcsGen.Tracing;

/// <summary>What a trace line records (docs/TRACE.md, "Lines"); <see cref="TraceFormat.Keyword"/> spells each.</summary>
public enum TraceEventKind
{
    /// <summary><c>exit REASON</c>: L2 exited.</summary>
    Exit,

    /// <summary><c>hw FIELD VALUE</c>: right after <c>exit</c>, a field the CPU wrote into vmcs02.</summary>
    Hardware,

    /// <summary><c>read FIELD VALUE</c> or <c>read FIELD fail</c>: L1's VMREAD.</summary>
    Read,

    /// <summary><c>write FIELD VALUE [fail]</c>: L1's VMWRITE.</summary>
    Write,

    /// <summary><c>event NAME</c>: a workload event with a fixed cost.</summary>
    Event,

    /// <summary><c>launch [fail]</c>: L1's VMLAUNCH.</summary>
    Launch,

    /// <summary><c>resume [fail]</c>: L1's VMRESUME, the round trip ends.</summary>
    Resume,

    /// <summary><c>vmptrld ADDR [fail]</c>.</summary>
    VmPtrLd,

    /// <summary><c>vmclear ADDR [fail]</c>.</summary>
    VmClear,

    /// <summary><c>vmptrst [fail]</c>.</summary>
    VmPtrSt,

    /// <summary><c>vmxon ADDR [fail]</c>.</summary>
    VmxOn,

    /// <summary><c>vmxoff [fail]</c>.</summary>
    VmxOff,

    /// <summary><c>write-through FIELD VALUE</c>: L0 wrote a no-sync field through at an intercepted WRMSR.</summary>
    WriteThrough,

    /// <summary><c>import</c>: KVM_SET_NESTED_STATE.</summary>
    Import,
}
