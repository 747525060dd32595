using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis.CSharp;
using VmcsGen.Generator.Diagnostics;
using VmcsGen.Generator.Model;
using VmcsGen.Generator.Parsing;

namespace VmcsGen.Generator.Semantics;

/// <summary>
/// vmcs12 offsets: explicit @offsets checked for alignment, overlap and size; the others laid out in order.
/// </summary>
internal static partial class ManifestBinder
{
    /// <summary>Checks explicit offsets, or lays fields out after the header. Returns whether offsets were explicit.</summary>
    private static bool BindOffsets(List<PendingField> fields, Header header, List<DiagnosticInfo> diagnostics)
    {
        var withOffset = fields.Count(f => f.Syntax.Offset is not null);
        if (withOffset == 0)
        {
            LayOut(fields, header, diagnostics);
            return false;
        }

        if (withOffset != fields.Count)
        {
            foreach (var field in fields.Where(f => f.Syntax.Offset is null))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MixedOffsets, field.Syntax.Name.Location, field.Syntax.Name.Text));
            }

            return true;
        }

        var placed = new List<PendingField>();
        foreach (var field in fields)
        {
            var offset = field.Syntax.Offset!.Value;
            var location = field.Syntax.OffsetToken!.Location;
            var name = field.Syntax.Name.Text;
            field.Offset = offset;
            if (offset % field.Size != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MisalignedOffset, location, name, offset, field.Size));
            }
            else if (offset < header.HeaderSize)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.OverlapsHeader, location, name, offset, header.HeaderSize));
            }
            else if (offset + field.Size > header.Size)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.BeyondSize, location, name, offset, offset + field.Size, header.Size));
            }
            else if (placed.FirstOrDefault(p => p.Offset < offset + field.Size && offset < p.Offset + p.Size) is { } other)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.OverlappingFields, location, name, offset, offset + field.Size,
                    other.Syntax.Name.Text, other.Offset, other.Offset + other.Size));
            }
            else
            {
                placed.Add(field);
            }
        }

        return true;
    }

    /// <summary>MANIFEST.md: after the header, 64-bit, then natural-width (8 bytes), then 32-bit, then 16-bit, each in manifest order.</summary>
    private static void LayOut(List<PendingField> fields, Header header, List<DiagnosticInfo> diagnostics)
    {
        var offset = (header.HeaderSize + 7) & ~7;
        foreach (var width in new[] { FieldWidth.Bits64, FieldWidth.Natural, FieldWidth.Bits32, FieldWidth.Bits16 })
        {
            foreach (var field in fields.Where(f => f.Width == width))
            {
                field.Offset = offset;
                offset += field.Size;
            }
        }

        if (fields.FirstOrDefault(f => f.Offset + f.Size > header.Size) is { } first)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.BeyondSize, first.Syntax.Name.Location, first.Syntax.Name.Text, first.Offset, first.Offset + first.Size, header.Size));
        }
    }
}
