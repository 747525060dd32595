using System;
using System.Collections.Generic;
using System.Linq;

namespace VmcsGen.Nested;

/// <summary>The two tables together: what a manifest's classes must honour.</summary>
public static class CpuSide
{
    /// <summary>
    /// Whether the CPU may change the field while L2 runs (or write it on the exit) with no L0 involvement: it must then be
    /// read back from vmcs02 on a nested exit (any class but <c>no-sync</c>).
    /// </summary>
    public static bool ChangesUnseenByL0(uint encoding) => CpuExitWrites.TryGet(encoding, out _) && !L0KeptFields.KeepsCurrent(encoding);

    /// <summary>The fields of <paramref name="fields"/> a layout marks <c>no-sync</c> although the CPU changes them unseen by L0.</summary>
    public static IReadOnlyList<VmcsFieldDescriptor> UnsoundNoSync(IEnumerable<VmcsFieldDescriptor> fields) =>
        fields.Where(f => !f.IsHigh && f.Class == FieldClass.NoSync && ChangesUnseenByL0(f.Encoding)).ToList();

    /// <summary>
    /// What a harness lets the CPU write into vmcs02 on an L2 exit (<see cref="INestedEngine.L2Exit"/>): the fields of the
    /// layout that an exit with <paramref name="exitControls"/> saves and L0 does not keep current itself.
    /// </summary>
    public static bool CpuMayWriteOnExit(VmcsFieldDescriptor field, ulong exitControls) =>
        !field.IsHigh && ChangesUnseenByL0(field.Encoding) && CpuExitWrites.Saves(field.Encoding, exitControls);

    /// <summary>
    /// What a harness lets L2 change through L0 (<see cref="INestedEngine.L2WriteThrough"/>): the fields L0 keeps current,
    /// when vmcs12's <paramref name="exitControls"/> ask for them (KVM updates vmcs12 only then, as the CPU would save).
    /// </summary>
    public static bool L0WritesThrough(VmcsFieldDescriptor field, ulong exitControls) =>
        !field.IsHigh && L0KeptFields.TryGet(field.Encoding, out var kept) && CpuExitWrites.Holds(kept.Condition, exitControls);
}

/// <summary>Read vmcs12 as the engine holds it, without an L1 instruction and without side effects (for test harnesses).</summary>
public interface IVmcs12Peek
{
    /// <summary>The field's value in the current vmcs12; false when no vmcs12 is current or the layout lacks the field.</summary>
    bool TryPeekVmcs12(uint encoding, out ulong value);
}
