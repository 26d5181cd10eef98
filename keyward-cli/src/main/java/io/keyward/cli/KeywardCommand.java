package io.keyward.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code keyward} command: serve, migrate, and administer keys on a running server. */
@Command(
    name = "keyward",
    mixinStandardHelpOptions = true,
    version = "keyward 0.1.0",
    description = "API-key authentication service: issue, verify, revoke and rotate API keys.",
    subcommands = {ServeCommand.class, MigrateCommand.class, KeysCommand.class, RootKeyCommand.class,
        DbCommand.class, NodesCommand.class, SwitchCommand.class, UsageCommand.class,
        CommandLine.HelpCommand.class})
public final class KeywardCommand {

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line, for tests. */
  public static CommandLine commandLine() {
    return new CommandLine(new KeywardCommand())
        .setCaseInsensitiveEnumValuesAllowed(true)
        // A mistyped flag: one line and where to look, not the whole usage text.
        .setParameterExceptionHandler((error, args) -> {
          CommandLine commandLine = error.getCommandLine();
          commandLine.getErr().println("keyward: " + error.getMessage());
          commandLine.getErr().println("Try '" + commandLine.getCommandSpec().qualifiedName()
              + " --help' for the options.");
          commandLine.getErr().flush();
          return 2;
        })
        // Configuration and connection problems: one line naming the flag or the address, exit 2.
        .setExecutionExceptionHandler((error, commandLine, parseResult) -> {
          if (error instanceof IllegalArgumentException || error instanceof IllegalStateException
              || error instanceof java.io.UncheckedIOException
              || error instanceof io.keyward.client.admin.KeywardClient.KeywardClientException) {
            commandLine.getErr().println("keyward: " + error.getMessage());
            commandLine.getErr().flush();
            return 2;
          }
          throw error;
        });
  }
}
