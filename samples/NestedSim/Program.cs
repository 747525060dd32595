using System;
using System.Globalization;
using System.Linq;
using Kvm = VmcsGen.Layouts.Kvm;
using Kvm2018 = VmcsGen.Layouts.Kvm2018;

namespace VmcsGen.Samples.NestedSim;

/// <summary>
/// The main job's entry point. Until the nested engine and the workload simulator exist, it prints what the generator
/// made of the shipped KVM manifests: region, revision and how many fields each class holds, side by side.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: dotnet run --project samples/NestedSim\n  Prints the layouts generated from fields/kvm.vmcs and fields/kvm-2018.vmcs.");
            return 0;
        }

        if (args.Length > 0)
        {
            Console.Error.WriteLine($"NestedSim: unknown argument '{args[0]}' (try --help)");
            return 2;
        }

        var layouts = new (string Name, string Manifest, VmcsFieldDescriptor[] Fields, int Size, uint Revision, int Compact)[]
        {
            ("kvm-2018", "fields/kvm-2018.vmcs", Kvm2018.VmcsFieldInfo.All.ToArray(), Kvm2018.Vmcs12.Size, Kvm2018.Vmcs12.Revision, Kvm2018.Vmcs12Access.CompactTableLength),
            ("kvm", "fields/kvm.vmcs", Kvm.VmcsFieldInfo.All.ToArray(), Kvm.Vmcs12.Size, Kvm.Vmcs12.Revision, Kvm.Vmcs12Access.CompactTableLength),
        };

        Console.WriteLine("VmcsGen layouts generated at build time");
        Console.WriteLine();
        var header = string.Format(CultureInfo.InvariantCulture, "{0,-10} {1,7} {2,11} {3,7} {4,9} {5,9} {6,5} {7,9} {8,7} {9,8} {10,8}",
            "layout", "fields", "revision", "size", "shadow-rw", "shadow-ro", "sync", "rare-sync", "no-sync", "ctl-shdw", "compact");
        Console.WriteLine(header);
        Console.WriteLine(new string('-', header.Length));
        foreach (var (name, _, fields, size, revision, compact) in layouts)
        {
            int Count(FieldClass c) => fields.Count(f => f.Class == c);
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0,-10} {1,7} {2,11} {3,7} {4,9} {5,9} {6,5} {7,9} {8,7} {9,8} {10,8}",
                name, fields.Length, "0x" + revision.ToString("x8", CultureInfo.InvariantCulture), size,
                Count(FieldClass.ShadowRw), Count(FieldClass.ShadowRo), Count(FieldClass.Sync), Count(FieldClass.RareSync), Count(FieldClass.NoSync),
                fields.Count(f => f.ControlShadow), compact));
        }

        Console.WriteLine();
        var kvm = layouts[1].Fields;
        var used = kvm.Max(f => f.Offset + VmcsEncoding.SizeInBytes(f.Width));
        Console.WriteLine($"kvm: vmcs12 fields end at byte {used} of {layouts[1].Size}; compact offset table has {layouts[1].Compact} entries ({layouts[1].Compact * 2} bytes).");
        Console.WriteLine("shadow-ro (VMREAD without an exit, never copied back): " + string.Join(", ", kvm.Where(f => f.Class == FieldClass.ShadowRo).Select(f => f.Name)));
        Console.WriteLine("control shadows: " + string.Join(", ", kvm.Where(f => f.ControlShadow).Select(f => f.Name)));
        Console.WriteLine();
        Console.WriteLine("The nested simulator (workloads, strategies, modelled cycles) builds on these layouts; see samples/NestedSim/README.md.");
        return 0;
    }
}
