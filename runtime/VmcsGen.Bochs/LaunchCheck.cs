using System;
using System.Collections.Generic;
using System.Linq;
using VmcsGen.Backends.Kvm;
using VmcsGen.Layouts.Kvm;
using VmcsGen.Software;

namespace VmcsGen.Bochs;

/// <summary>The result of <see cref="LaunchCheck"/>: the VM exit Bochs delivered and what KvmNested expects.</summary>
/// <param name="Bochs">VMLAUNCH's outcome on Bochs (a VM exit when L2 ran).</param>
/// <param name="GuestRip">L2's RIP at the exit.</param>
/// <param name="InstructionLength">The VM-exit instruction length.</param>
/// <param name="ExpectedRip">vmcs12's GUEST_RIP: CPUID is L2's first instruction.</param>
/// <param name="Software">VMLAUNCH of the same VMCS on SoftwareVmx configured as Bochs' CPU (it checks, it does not run L2).</param>
/// <param name="Loaded">Fields of vmcs12 loaded with VMWRITE (host state excluded: the runner is the host).</param>
/// <param name="Refused">Fields Bochs refused (VMfailValid: not on this CPU) with their vmcs12 values.</param>
public sealed record LaunchReport(
    InstructionOutcome Bochs, ulong GuestRip, ulong InstructionLength, ulong ExpectedRip, InstructionOutcome Software, int Loaded,
    IReadOnlyList<(string Name, uint Encoding, ulong Value)> Refused)
{
    public uint ExitReason => Bochs.ExitReason;

    public ulong Qualification => Bochs.ExitQualification;

    /// <summary>
    /// What KvmNested asserts on a VMX host: exit reason 10 (CPUID), qualification 0, L2's RIP at its CPUID (2 bytes); and SoftwareVmx accepts the VMCS too.
    /// </summary>
    public IReadOnlyList<string> Disagreements
    {
        get
        {
            var list = new List<string>();
            if (!VmcsImage.IsExit(Bochs, 10))
            {
                list.Add($"Bochs: {VmcsImage.Describe(Bochs)} (reason 0x{Bochs.ExitReason:X}), not exit 10 (CPUID)");
            }
            else
            {
                if (Qualification != 0)
                {
                    list.Add($"qualification 0x{Qualification:X}, not 0");
                }

                if (GuestRip != ExpectedRip || InstructionLength != 2)
                {
                    list.Add($"guest RIP 0x{GuestRip:X} (length {InstructionLength}), not 0x{ExpectedRip:X} (CPUID, 2 bytes)");
                }
            }

            if (Software.Kind != InstructionOutcomeKind.Succeed)
            {
                list.Add($"SoftwareVmx: {VmcsImage.Describe(Software)} {Software.Rule}");
            }

            list.AddRange(Refused.Where(r => r.Value != 0).Select(r => $"Bochs has no {r.Name} (0x{r.Encoding:X4}) but vmcs12 holds 0x{r.Value:X} there"));
            return list;
        }
    }
}

/// <summary>
/// Issue 21 item 4c, the KvmNested launch executed: the vmcs12 that <see cref="KvmNestedLaunch.Build"/> makes with the
/// generated <see cref="Vmcs12"/> (for Bochs' capabilities) is loaded field by field into a Bochs VMCS by the runner, in
/// 32-bit protected mode like KvmNested's L1, with the launch's memory (page directory, GDT, TSS, L2's <c>cpuid; hlt</c>) at
/// its physical addresses. The runner is the host: vmcs12's host-state fields (L1's exit handler) are replaced by the
/// runner's. VMLAUNCH; L2 runs CPUID and the runner reads back the exit reason, the qualification and the guest RIP.
/// </summary>
public static class LaunchCheck
{
    public static LaunchReport Run(BochsRunner runner, VmxProfile profile)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(profile);
        var launch = KvmNestedLaunch.Build(profile.Capabilities, []);
        var vmcs12 = launch.State.Vmcs12 ?? throw new InvalidOperationException("KvmNestedLaunch built no vmcs12");
        var bytes = Vmcs12.AsBytes(ref vmcs12).ToArray();

        var fields = new List<(VmcsFieldDescriptor Field, ulong Value)>();
        foreach (var f in Layout.Fields)
        {
            if (f.IsHigh || f.Type == FieldType.HostState)
            {
                continue;
            }

            if (!Layout.Read(bytes, f.Encoding, out var value).IsSuccess)
            {
                throw new InvalidOperationException($"vmcs12's {f.Name} cannot be read");
            }

            fields.Add((f, value));
        }

        const GuestMode mode = GuestMode.Protected32;
        var host = VmcsImage.Host(mode);
        var steps = VmcsImage.Enter(profile.Revision);
        foreach (var (address, length) in new[] { (KvmNestedLaunch.PageDirectory, 0x1000), (KvmNestedLaunch.Gdt, 0x20), (KvmNestedLaunch.Tss, 0x68),
            (KvmNestedLaunch.L2Code, 16) })
        {
            steps.Add(new PhysicalBytes(address, launch.Memory.AsSpan((int)address, length).ToArray()));
        }

        // One VMWRITE step (two for a 64-bit field in 32-bit mode) per field; remember which steps belong to which field.
        var firstStep = new List<int>();
        foreach (var (f, value) in fields)
        {
            firstStep.Add(steps.Count);
            steps.AddRange(VmcsImage.WriteFields(mode, [(f.Encoding, value)]));
        }

        steps.AddRange(VmcsImage.WriteFields(mode, host.Select(p => (p.Key, p.Value))));
        var launchStep = steps.Count;
        steps.Add(new VmxInstruction(VmxOpcode.Vmlaunch));

        var records = runner.Run([new GuestProgram(mode, steps)]).Programs[0].ToDictionary(r => r.Step);
        var refused = new List<(string, uint, ulong)>();
        for (var i = 0; i < fields.Count; i++)
        {
            if (records[firstStep[i]].Outcome.Kind != InstructionOutcomeKind.Succeed)
            {
                refused.Add((fields[i].Field.Name, fields[i].Field.Encoding, fields[i].Value));
            }
        }

        var exit = records[launchStep];

        // The same VMCS on SoftwareVmx as this CPU: every field Bochs took, then the runner's host state.
        var cpu = new SoftwareVmx(profile);
        cpu.CreateRegion(VmcsImage.Vmcs);
        cpu.VmPtrLd(VmcsImage.Vmcs);
        foreach (var (f, value) in fields.Where(f => !refused.Any(r => r.Item2 == f.Field.Encoding)))
        {
            cpu.VmWrite(f.Encoding, value);
        }

        foreach (var (encoding, value) in host)
        {
            cpu.VmWrite(encoding, value);
        }

        var software = cpu.ExecuteVmlaunch(VmxContext.Protected32);
        return new LaunchReport(exit.Outcome, exit.Value, exit.Auxiliary, vmcs12.GuestRip, software, fields.Count - refused.Count, refused);
    }
}
