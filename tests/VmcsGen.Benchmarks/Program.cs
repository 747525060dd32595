using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/VmcsGen.Benchmarks -- --filter '*' --job short    (a few minutes; see docs/PERFORMANCE.md)
BenchmarkSwitcher.FromAssembly(typeof(VmcsGen.Benchmarks.CopyLoopBenchmarks).Assembly).Run(args);
