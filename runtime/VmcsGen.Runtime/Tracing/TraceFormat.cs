namespace VmcsGen.Tracing;

/// <summary>
/// The words of the trace format (docs/TRACE.md, <c>vmcsgen-trace 1</c>), shared by its writer
/// (<see cref="Nested.NestedTraceWriter"/>) and its reader (<see cref="TraceReader"/>).
/// </summary>
public static class TraceFormat
{
    /// <summary>The first word of the first line.</summary>
    public const string Magic = "vmcsgen-trace";

    /// <summary>The version this runtime writes and reads.</summary>
    public const int Version = 1;

    /// <summary>The first line of every trace: the format and its version.</summary>
    public const string Header = "vmcsgen-trace 1";

    /// <summary>The last word of a line whose instruction failed (a VMfail or #UD that L1 saw).</summary>
    public const string Fail = "fail";

    /// <summary>The exit reason of an <c>exit</c> line when the CPU wrote no VM_EXIT_REASON.</summary>
    public const string UnknownReason = "?";

    /// <summary>The keyword that starts a line of <paramref name="kind"/>.</summary>
    public static string Keyword(TraceEventKind kind) => kind switch
    {
        TraceEventKind.VmPtrLd => "vmptrld",
        TraceEventKind.VmClear => "vmclear",
        TraceEventKind.VmPtrSt => "vmptrst",
        TraceEventKind.VmxOn => "vmxon",
        TraceEventKind.VmxOff => "vmxoff",
        TraceEventKind.Launch => "launch",
        TraceEventKind.Exit => "exit",
        TraceEventKind.Hardware => "hw",
        TraceEventKind.Read => "read",
        TraceEventKind.Write => "write",
        TraceEventKind.Event => "event",
        TraceEventKind.Resume => "resume",
        TraceEventKind.WriteThrough => "write-through",
        _ => "import",
    };
}
