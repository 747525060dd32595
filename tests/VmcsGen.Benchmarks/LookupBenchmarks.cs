using System.Collections.Frozen;
using System.Linq;
using BenchmarkDotNet.Attributes;
using VmcsGen.Layouts.Kvm;

namespace VmcsGen.Benchmarks;

/// <summary>vmcs12 offset lookup over every valid encoding of KVM's layout (full and _HIGH forms): three implementations.</summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private uint[] _encodings = null!;
    private FrozenDictionary<uint, int> _dictionary = null!;

    [GlobalSetup]
    public void Setup()
    {
        _encodings = Enumerable.Range(0, 0x8000).Select(e => (uint)e).Where(e => Vmcs12Access.TryGetOffset(e, out _)).ToArray();
        _dictionary = _encodings.ToFrozenDictionary(e => e, e => Vmcs12Access.TryGetOffset(e, out var o) ? o : 0);
    }

    [Benchmark(Baseline = true, Description = "compact ROL16 table (KVM)")]
    public int Compact()
    {
        var sum = 0;
        foreach (var encoding in _encodings)
        {
            Vmcs12Access.TryGetOffsetCompact(encoding, out var offset);
            sum += offset;
        }

        return sum;
    }

    [Benchmark(Description = "generated switch")]
    public int Switch()
    {
        var sum = 0;
        foreach (var encoding in _encodings)
        {
            Vmcs12Access.TryGetOffset(encoding, out var offset);
            sum += offset;
        }

        return sum;
    }

    [Benchmark(Description = "FrozenDictionary")]
    public int Frozen()
    {
        var sum = 0;
        foreach (var encoding in _encodings)
        {
            _dictionary.TryGetValue(encoding, out var offset);
            sum += offset;
        }

        return sum;
    }
}
