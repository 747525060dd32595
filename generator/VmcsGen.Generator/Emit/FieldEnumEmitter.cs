using VmcsGen.Generator.Model;

namespace VmcsGen.Generator.Emit;

/// <summary>Emits <c>VmcsField</c> (every field, value = encoding) and the <c>Features</c> flags.</summary>
internal static class FieldEnumEmitter
{
    public static void Emit(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>Every field of the " + manifest.LayoutName + " layout; the value is the field's full-access encoding.</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public enum VmcsField : uint"))
        {
            foreach (var field in manifest.Fields)
            {
                writer.WriteLine("/// <summary>" + Describe(field) + "</summary>");
                writer.WriteLine(field.CSharpName + " = " + GeneratedHeader.Hex(field.Encoding) + ",");
            }
        }
    }

    public static void EmitFeatures(SourceWriter writer, VmcsManifest manifest)
    {
        writer.WriteLine("/// <summary>The features named by <c>requires=</c> in " + manifest.FileName + ": a field whose feature is absent is not shadowed " +
            "and its accesses fail with VMfailValid(12).</summary>");
        writer.WriteLine("[global::System.Flags]");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public enum Features : ulong"))
        {
            writer.WriteLine("None = 0,");
            ulong all = 0;
            foreach (var feature in manifest.Features)
            {
                writer.WriteLine("/// <summary><c>" + feature.Name + "</c></summary>");
                writer.WriteLine($"{feature.CSharpName} = 1UL << {feature.Bit},");
                all |= 1UL << feature.Bit;
            }

            writer.WriteLine("/// <summary>Every feature of the manifest.</summary>");
            writer.WriteLine("All = " + GeneratedHeader.HexMask(all) + ",");
        }

        writer.WriteLine();
        writer.WriteLine("/// <summary>Which of the manifest's features a CPU has.</summary>");
        writer.WriteLine(GeneratedHeader.GeneratedCodeAttribute);
        using (writer.Block("public static class FeatureSupport"))
        {
            writer.WriteLine("/// <summary>The features <paramref name=\"capabilities\"/> offers; a feature the capability model does not know counts as " +
                "absent (its fields stay intercepted).</summary>");
            using (writer.Block("public static Features From(global::VmcsGen.VmxCapabilities capabilities)"))
            {
                writer.WriteLine("var features = Features.None;");
                foreach (var feature in manifest.Features)
                {
                    writer.WriteLine($"if (capabilities.Has(\"{feature.Name}\"))");
                    writer.WriteLine("{");
                    writer.WriteLine($"    features |= Features.{feature.CSharpName};");
                    writer.WriteLine("}");
                    writer.WriteLine();
                }

                writer.WriteLine("return features;");
            }
        }
    }

    public static string Describe(FieldSpec field)
    {
        var text = field.Name + " (" + GeneratedHeader.Hex(field.Encoding) + "): " + FieldText.Describe(field.Width) + " " +
            FieldText.Describe(field.Type) + ", " + FieldText.Keyword(field.Class) + ", vmcs12 offset " +
            field.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (field.ControlShadow)
        {
            text += ", control-shadow";
        }

        if (field.Feature is not null)
        {
            text += ", requires " + field.Feature;
        }

        return text + ".";
    }
}
