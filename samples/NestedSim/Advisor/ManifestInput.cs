namespace VmcsGen.Samples.NestedSim.Advisor;

/// <summary>A manifest the advisor works on: its text, its compiled layout and its classification.</summary>
public sealed record ManifestInput(string Path, ManifestText Text, LayoutHandle Layout, Classification Classification);
