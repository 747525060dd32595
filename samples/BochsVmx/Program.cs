using System;
using System.Linq;
using VmcsGen.Bochs;

// BochsVmx: SoftwareVmx and VmcsGen's generated code held to Bochs, an executing VMX implementation. Verbs: msrs.
// (diff, shadow, vmcs02 and launch: see README.md.)
try
{
    var verb = args.Length > 0 ? args[0] : "";
    if (VmcsGen.Samples.BochsVmx.ExecutionVerbs.Handles(verb))
    {
        return VmcsGen.Samples.BochsVmx.ExecutionVerbs.Run(verb, args[1..]); // shadow, vmcs02, launch: ExecutionVerbs.cs
    }

    switch (verb)
    {
        case "msrs":
            var runner = new BochsRunner();
            var profile = runner.ReadProfile();
            Console.WriteLine($"Bochs {runner.Options.CpuModel}: VMCS revision 0x{profile.Revision:X}, MAXPHYADDR {profile.PhysicalAddressWidth}, {profile.Catalog.Count} VMCS fields");
            foreach (var (index, value) in profile.Msrs.OrderBy(p => p.Key))
            {
                Console.WriteLine($"  0x{index:X3}  0x{value:X16}");
            }

            return 0;
        default:
            Console.Error.WriteLine($"BochsVmx: unknown verb '{verb}' (msrs)");
            return 2;
    }
}
catch (BochsException e)
{
    Console.Error.WriteLine("BochsVmx: " + e.Message);
    return 2;
}
