namespace VmcsGen.Generator;

/// <summary>One name per pipeline step, used by <c>WithTrackingName</c> and by the caching tests.</summary>
internal static class TrackingNames
{
    public const string Manifests = nameof(Manifests);
    public const string Bound = nameof(Bound);
    public const string Models = nameof(Models);
    public const string Winners = nameof(Winners);
    public const string Sources = nameof(Sources);
    public const string Diagnostics = nameof(Diagnostics);
    public const string Layouts = nameof(Layouts);
    public const string CompilationDetails = nameof(CompilationDetails);
}
