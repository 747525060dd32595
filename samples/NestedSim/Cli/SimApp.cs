using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace VmcsGen.Samples.NestedSim.Cli;

/// <summary>
/// The command line of NestedSim (the <c>vmcsgen-sim</c> tool): one Spectre.Console.Cli command per verb, each in its own
/// file under Cli/ with its settings, description and examples. To add a verb, add its file and one line to
/// <see cref="AddVerbs"/>.
/// </summary>
public static class SimApp
{
    /// <summary>The name the help prints, the .NET tool's command.</summary>
    public const string Name = "vmcsgen-sim";

    /// <summary>Every verb besides the default one (run), one line each.</summary>
    public static void AddVerbs(IConfigurator config)
    {
        RunVerb.Add(config);
        SuiteVerb.Add(config);
        CalibrateVerb.Add(config);
        AdviseVerb.Add(config);
        CompareVerb.Add(config);
        RecordVerb.Add(config);
        ConvertVerb.Add(config);
        VerifyVerb.Add(config);
    }

    /// <summary>
    /// The application. <c>run</c> is the default verb: <see cref="Normalize"/> names it before options, and the
    /// application made with <paramref name="defaultVerb"/> runs it for an empty line and prints its options in the
    /// application's help. (Spectre's default command is kept to those two cases: with it, an option missing its value
    /// at the end of the line would take Spectre's internal name of the default command as its value.)
    /// </summary>
    public static ICommandApp Create(IAnsiConsole? console = null, bool defaultVerb = true)
    {
        ICommandApp app = defaultVerb ? new CommandApp<RunVerb>().WithDescription(RunVerb.Description) : new CommandApp();
        app.Configure(config =>
        {
            Common(config, console);
            config.SetHelpProvider(new SimHelp(config.Settings));
            if (defaultVerb)
            {
                config.AddExample([]);
                RunVerb.Examples(example => config.AddExample(example));
            }

            AddVerbs(config);
        });
        return app;
    }

    /// <summary>
    /// Runs a command line as the tool does, and returns its exit status. Bad input (an unknown option, a value out of
    /// range, a missing file) throws <see cref="ArgumentException"/> with one line naming the option; the tool's Main
    /// prints it and exits with <see cref="Program.BadInput"/>.
    /// </summary>
    public static int Execute(string[] args, IAnsiConsole? console = null)
    {
        try
        {
            var line = Normalize(args);
            return Create(console, defaultVerb: line is [] or ["-h" or "--help" or "-?"]).Run(line);
        }
        catch (CommandAppException e)
        {
            throw new ArgumentException(Message(e, args), e);
        }
    }

    /// <summary>
    /// Parses and checks a command line as <see cref="Execute"/> does (every option known, every value in range, every
    /// input file present) without running the verb; bad input throws <see cref="ArgumentException"/>.
    /// </summary>
    public static void Check(string[] args)
    {
        var wasDry = Dry.Value;
        Dry.Value = true;
        try
        {
            Execute(args, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) }));
        }
        finally
        {
            Dry.Value = wasDry;
        }
    }

    /// <summary>True under <see cref="Check"/>: verbs parse and check, and do not run.</summary>
    public static bool DryRun => Dry.Value;

    private static readonly System.Threading.AsyncLocal<bool> Dry = new();

    /// <summary>
    /// <c>--suite NAME …</c> before any verb is the <c>suite NAME …</c> verb, as NestedSim spelled it before it had verbs;
    /// other options before any verb are the run verb's (named, so that Spectre's parser reports a missing value as one);
    /// an empty line and a bare <c>--help</c>/<c>--version</c> are left to the default verb and the application's help.
    /// </summary>
    public static string[] Normalize(string[] args)
    {
        if (args.Length == 0 || !args[0].StartsWith('-') || args is ["-h" or "--help" or "-?"])
        {
            return args;
        }

        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--suite=", StringComparison.Ordinal))
            {
                return ["suite", args[i]["--suite=".Length..], .. args[..i], .. args[(i + 1)..]];
            }

            if (args[i] == "--suite")
            {
                return i + 1 < args.Length && !args[i + 1].StartsWith('-')
                    ? ["suite", args[i + 1], .. args[..i], .. args[(i + 2)..]]
                    : throw new ArgumentException($"--suite needs a suite name ({string.Join(", ", Suite.Names())})");
            }
        }

        return ["run", .. args];
    }

    /// <summary>
    /// The settings a verb's command line makes, checked (<see cref="CommandSettings.Validate"/>), without running the
    /// verb; null when the line asked for help.
    /// </summary>
    public static TSettings? Parse<TSettings>(string verb, string[] args)
        where TSettings : CommandSettings
    {
        TSettings? parsed = null;
        var app = new CommandApp();
        app.Configure(config =>
        {
            Common(config, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) }));
            config.AddDelegate<TSettings>(verb, (_, settings, _) =>
            {
                parsed = settings;
                return 0;
            });
        });
        try
        {
            app.Run([verb, .. args]);
        }
        catch (CommandAppException e)
        {
            throw new ArgumentException(Message(e, [verb, .. args]), e);
        }

        return parsed;
    }

    private static void Common(IConfigurator config, IAnsiConsole? console)
    {
        config.SetApplicationName(Name);
        config.PropagateExceptions();
        config.UseStrictParsing();
        config.ValidateExamples();
        if (console is not null)
        {
            config.ConfigureConsole(console);
        }
    }

    /// <summary>Spectre's message on one line, with where to look for help.</summary>
    private static string Message(CommandAppException e, string[] args)
    {
        var message = e.Message.ReplaceLineEndings(" ").Trim();
        if (message.EndsWith('.') && !message.EndsWith("..", StringComparison.Ordinal))
        {
            message = message[..^1];
        }

        // Settings' own checks already name the option; Spectre's parse errors get a pointer to the right help.
        if (e is CommandParseException)
        {
            var verb = args.Length > 0 && !args[0].StartsWith('-') && !message.StartsWith("Unknown command", StringComparison.Ordinal) ? args[0] + " "
                : string.Empty;
            message += $" (try {verb}--help)";
        }

        return message;
    }

    /// <summary>Spectre's help with the exit statuses at the end.</summary>
    private sealed class SimHelp(ICommandAppSettings settings) : HelpProvider(settings)
    {
        public override IEnumerable<IRenderable> GetFooter(ICommandModel model, ICommandInfo? command) =>
        [
            .. base.GetFooter(model, command),
            new Markup(Environment.NewLine + "[yellow]EXIT STATUS:[/]" + Environment.NewLine),
            new Text("    0  done" + Environment.NewLine),
            new Text("    2  bad input: one line naming the option, or file(line,col); nothing written" + Environment.NewLine),
            new Text("    3  ran, but a strategy failed L1 accesses of a workload (unfaithful)" + Environment.NewLine),
            new Text("    1  verify: the manifest is unsound (a generator error, or its engine diverged from the reference)" + Environment.NewLine),
            new Text("    4  advise: the proposal failed a check and is not recommended; advise, compare: a manifest is unsound (VMCS0126)" +
                Environment.NewLine),
        ];
    }
}
