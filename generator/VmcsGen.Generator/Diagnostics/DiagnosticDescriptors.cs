using Microsoft.CodeAnalysis;

namespace VmcsGen.Generator.Diagnostics;

/// <summary>
/// The one catalog of VmcsGen diagnostics. IDs are assigned once and never reused:
/// VMCS00xx manifest syntax, VMCS01xx field rules, VMCS02xx control shadows, VMCS09xx configuration.
/// Every ID has a page docs/diagnostics/VMCSnnnn.md and a row in AnalyzerReleases.Unshipped.md.
/// </summary>
internal static class DiagnosticDescriptors
{
    public const string Category = "VmcsGen";
    public const string HelpBaseUri = "https://github.com/VmcsGen/VmcsGen/blob/main/docs/diagnostics/";

    // ---- VMCS00xx: manifest syntax ----
    public static readonly DiagnosticDescriptor TooManyErrors = Error(
        "VMCS0014", "Too many errors",
        "{0} more diagnostics in {1} are not shown (the first {2} are): fix those first");

    public static readonly DiagnosticDescriptor UnknownDirective = Error(
        "VMCS0001", "Unknown directive",
        "Unknown directive '{0}': expected layout, revision, size, header, vmwrite-any or features");

    public static readonly DiagnosticDescriptor UnknownClassOrOption = Error(
        "VMCS0002", "Unknown class or option",
        "Field {0}: unknown class or option '{1}': expected shadow-rw, shadow-ro, sync, rare-sync, no-sync, control-shadow, requires=FEATURE or group=NAME");

    public static readonly DiagnosticDescriptor MalformedNumber = Error(
        "VMCS0003", "Malformed number",
        "Malformed number '{0}' for {1}: expected a decimal or 0x hex number");

    public static readonly DiagnosticDescriptor DuplicateDirective = Error(
        "VMCS0004", "Duplicate header directive",
        "Directive '{0}' appears more than once");

    public static readonly DiagnosticDescriptor MissingDirective = Error(
        "VMCS0005", "Missing required directive",
        "The manifest has no '{0}' directive, which is required");

    public static readonly DiagnosticDescriptor DirectiveAfterFields = Error(
        "VMCS0006", "Directive after the first field",
        "Directive '{0}' comes after the first field line: header directives must come before every field");

    public static readonly DiagnosticDescriptor InvalidToken = Error(
        "VMCS0007", "Invalid token",
        "Unexpected '{0}': {1}");

    public static readonly DiagnosticDescriptor MissingValue = Error(
        "VMCS0008", "Missing value",
        "{0} is missing its {1}");

    public static readonly DiagnosticDescriptor UnexpectedToken = Error(
        "VMCS0009", "Unexpected extra token",
        "Unexpected '{0}' after {1}");

    public static readonly DiagnosticDescriptor InvalidLayoutName = Error(
        "VMCS0010", "Invalid layout namespace",
        "Layout '{0}' is not a valid C# namespace: {1}");

    public static readonly DiagnosticDescriptor ValueOutOfRange = Error(
        "VMCS0011", "Value out of range",
        "{0} {1} is out of range: {2}");

    public static readonly DiagnosticDescriptor DuplicateClassOrOption = Error(
        "VMCS0012", "Class or option given twice",
        "Field {0}: '{1}' conflicts with '{2}' given earlier on the same line");

    public static readonly DiagnosticDescriptor InvalidIdentifier = Error(
        "VMCS0013", "Invalid feature or group name",
        "'{0}' is not a valid {1} name: use lower-case words of letters and digits joined by '-', each starting with a letter ('none' and 'all' are reserved)");

    // ---- VMCS01xx: field rules ----
    public static readonly DiagnosticDescriptor ReservedEncodingBits = Error(
        "VMCS0101", "Reserved encoding bits set",
        "Field {0}: encoding 0x{1} sets reserved bits ({2}); valid encodings use bits 14:13 and 11:0 with bit 12 clear");

    public static readonly DiagnosticDescriptor HighFormListed = Error(
        "VMCS0102", "_HIGH form listed",
        "Field {0}: encoding 0x{1} has bit 0 set, which is the _HIGH access form of a 64-bit field; list the full field (0x{2}) only, " +
            "the generator derives its _HIGH form");

    public static readonly DiagnosticDescriptor DuplicateEncoding = Error(
        "VMCS0103", "Duplicate encoding",
        "Field {0}: encoding 0x{1} is already used by field {2}");

    public static readonly DiagnosticDescriptor DuplicateName = Error(
        "VMCS0104", "Duplicate field name",
        "Field {0} is listed twice (C# name {1})");

    public static readonly DiagnosticDescriptor MixedOffsets = Error(
        "VMCS0105", "Offsets on some fields but not all",
        "Field {0} has no @OFFSET but other fields do: give every field an offset (fixed ABI) or none (generated layout)");

    public static readonly DiagnosticDescriptor MisalignedOffset = Error(
        "VMCS0106", "Misaligned offset",
        "Field {0}: offset {1} is not aligned to the field's {2}-byte size");

    public static readonly DiagnosticDescriptor OverlappingFields = Error(
        "VMCS0107", "Overlapping fields",
        "Field {0} at [{1}, {2}) overlaps field {3} at [{4}, {5})");

    public static readonly DiagnosticDescriptor OverlapsHeader = Error(
        "VMCS0108", "Field overlaps the header",
        "Field {0} at offset {1} overlaps the {2}-byte header");

    public static readonly DiagnosticDescriptor BeyondSize = Error(
        "VMCS0109", "Field beyond the region size",
        "Field {0} at [{1}, {2}) lies beyond the region size {3}");

    public static readonly DiagnosticDescriptor RareSyncNotGuestState = Error(
        "VMCS0110", "rare-sync on a non-guest-state field",
        "Field {0} is a {1} field: rare-sync applies only to guest-state fields");

    public static readonly DiagnosticDescriptor ShadowRwExitInfo = Error(
        "VMCS0111", "shadow-rw on an exit-information field",
        "Field {0} is an exit-information field: shadow-rw needs the vmwrite-any directive (L1 may not VMWRITE it otherwise); use shadow-ro");

    public static readonly DiagnosticDescriptor GroupOnShadowRw = Error(
        "VMCS0112", "group on a shadow-rw field",
        "Field {0} is shadow-rw and takes no dirty group: L0 never sees its writes, so it is rewritten on every entry");

    public static readonly DiagnosticDescriptor ShadowedInstructionError = Error(
        "VMCS0113", "VM_INSTRUCTION_ERROR shadowed",
        "Field {0} must not be shadowed: L0 writes it while emulating VMX instructions, so a shadow copy would go stale");

    public static readonly DiagnosticDescriptor TooManyGroups = Error(
        "VMCS0114", "Too many dirty groups",
        "Group '{0}' is the {1}th dirty group: at most 32 groups are allowed");

    public static readonly DiagnosticDescriptor ShadowRwArBytes = Warning(
        "VMCS0115", "shadow-rw on a segment access-rights field",
        "Field {0} is a segment access-rights field: L0 masks written AR bytes (0x1f0ff), so through a read-write shadow L1 would see unmasked values; " +
            "consider shadow-ro");

    public static readonly DiagnosticDescriptor FeatureNamedOnce = Warning(
        "VMCS0116", "Feature named only once",
        "Feature '{0}' is named only once in the manifest, which is likely a typo; declare it in a 'features' directive if it is meant");

    public static readonly DiagnosticDescriptor TooManyShadowed = Warning(
        "VMCS0117", "Many shadowed fields",
        "{0} fields are shadowed (more than 64): each one is a VMREAD or VMWRITE on every nested transition");

    public static readonly DiagnosticDescriptor TooManyFeatures = Error(
        "VMCS0118", "Too many features",
        "Feature '{0}' is the {1}th feature: at most 64 features are allowed");

    public static readonly DiagnosticDescriptor UndeclaredFeature = Error(
        "VMCS0119", "Undeclared feature",
        "Field {0} requires feature '{1}', which the 'features' directive does not declare");

    public static readonly DiagnosticDescriptor UnusedFeature = Warning(
        "VMCS0120", "Declared feature never used",
        "Feature '{0}' is declared but no field requires it");

    public static readonly DiagnosticDescriptor CSharpNameCollision = Error(
        "VMCS0121", "C# name collision",
        "Field {0} and field {1} both become the C# name {2}; rename one of them");

    public static readonly DiagnosticDescriptor GeneratedMemberCollision = Error(
        "VMCS0122", "Field name collides with a generated member",
        "Field {0} becomes the C# name {1}, which {2} already uses for its own member; rename the field");

    public static readonly DiagnosticDescriptor NameTooLong = Error(
        "VMCS0123", "Field name too long",
        "Field name {0} is {1} characters long; the generated C# needs names of at most {2} characters");

    public static readonly DiagnosticDescriptor KnownNameOtherEncoding = Error(
        "VMCS0124", "Known field with another encoding",
        "Field {0} has encoding 0x{1}, but {0} is the VMCS field 0x{2}{3}");

    public static readonly DiagnosticDescriptor HighFormName = Error(
        "VMCS0125", "Field named like a derived _HIGH form",
        "Field {0} is named like the _HIGH form of 64-bit field {1}, which the generator derives itself (encoding 0x{2}); rename the field");

    public static readonly DiagnosticDescriptor UnsoundNoSync = Warning(
        "VMCS0126", "no-sync on a field the CPU saves on VM exit",
        "Field {0} is no-sync, but a VM exit saves it (SDM {1}{2}) and L0 does not keep it current while L2 runs: after a nested exit L1 would read a stale " +
            "value; use sync, rare-sync, shadow-ro or shadow-rw");

    // ---- VMCS02xx: control shadows ----
    public static readonly DiagnosticDescriptor ControlShadowNotControl = Error(
        "VMCS0201", "control-shadow on a non-control field",
        "Field {0} is a {1} field: control-shadow applies only to control fields");

    public static readonly DiagnosticDescriptor ControlShadowWidth = Error(
        "VMCS0202", "control-shadow on a field that is not 32 or 64 bits",
        "Field {0} is {1}: control-shadow applies only to 32-bit and 64-bit control fields");

    // ---- VMCS09xx: configuration ----
    public static readonly DiagnosticDescriptor DuplicateLayout = Error(
        "VMCS0901", "Two manifests declare the same layout",
        "Layout '{0}' is already declared by {1}: each manifest needs its own namespace; no code is generated for this one");

    public static readonly DiagnosticDescriptor LayoutCaseCollision = Error(
        "VMCS0903", "Layout names differ only in case",
        "Layout '{0}' differs only in case from '{1}' declared by {2}: generated file names ignore case; rename one layout, no code is generated for this one");

    public static readonly DiagnosticDescriptor LayoutAlreadyReferenced = Error(
        "VMCS0904", "Layout already compiled into a reference",
        "Layout '{0}' is already compiled into the referenced assembly {1}: use that one, or give this manifest another layout namespace; " +
            "no code is generated for it");

    public static readonly DiagnosticDescriptor RuntimeNotReferenced = Error(
        "VMCS0902", "VmcsGen.Runtime not referenced",
        "Manifest {0} needs VmcsGen.Runtime: add a reference to the VmcsGen.Runtime project or package");

    public static string HelpLink(string id) => HelpBaseUri + id + ".md";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        Create(id, title, message, DiagnosticSeverity.Error);

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        Create(id, title, message, DiagnosticSeverity.Warning);

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, helpLinkUri: HelpLink(id));
}
