using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Benchmarks;

/// <summary>
/// vmcs12 offset lookup by encoding in KVM's layout, against KVM's compact ROL16 table (<c>vmcs12_field_offsets</c>
/// indexed by ROL16(encoding, 6), arch/x86/kvm/vmx/vmcs12.h <c>get_vmcs12_field_offset</c>) in the same run: over every
/// valid encoding (full and _HIGH forms), and over the encodings the engine looks up at run time (every field whose L1
/// access exits to L0: all but the shadow-rw ones, whose VMREAD and VMWRITE never exit). The generated lookup is the
/// fastest of the candidates measured (docs/PERFORMANCE.md): a compile-time perfect hash and the generated switch lost to it.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LookupBenchmarks
{
    private const string All = "all valid encodings";
    private const string Engine = "the engine's encodings";
    private uint[] _all = null!;
    private uint[] _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _all = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => Vmcs12Access.TryGetOffsetCompact(e, out _)).ToArray();
        _engine = _all.Where(e => VmcsFieldInfo.TryGetField(e, out var field) && field.Class != FieldClass.ShadowRw).ToArray();
    }

    [Benchmark(Baseline = true, Description = "all: compact ROL16 table (KVM)")]
    [BenchmarkCategory(All)]
    public int AllRol16() => Rol16(_all);

    [Benchmark(Description = "all: generated table by encoding (TryGetOffset)")]
    [BenchmarkCategory(All)]
    public int AllGenerated() => Generated(_all);

    [Benchmark(Baseline = true, Description = "engine: compact ROL16 table (KVM)")]
    [BenchmarkCategory(Engine)]
    public int EngineRol16() => Rol16(_engine);

    [Benchmark(Description = "engine: generated table by encoding (TryGetOffset)")]
    [BenchmarkCategory(Engine)]
    public int EngineGenerated() => Generated(_engine);

    private static int Rol16(uint[] encodings)
    {
        var sum = 0;
        foreach (var encoding in encodings)
        {
            Vmcs12Access.TryGetOffsetCompact(encoding, out var offset);
            sum += offset;
        }

        return sum;
    }

    private static int Generated(uint[] encodings)
    {
        var sum = 0;
        foreach (var encoding in encodings)
        {
            Vmcs12Access.TryGetOffset(encoding, out var offset);
            sum += offset;
        }

        return sum;
    }
}
