package io.keyward.cli;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code keyward usage}: verification counts on a running server ({@code /v1/keys/{id}/usage},
 * {@code /v1/usage}) and its usage exporters (list, pause, resume, remove a left-over cursor).
 */
@Command(name = "usage", mixinStandardHelpOptions = true,
    description = "Verification counts by outcome per key or owner, and the usage exporters.",
    subcommands = {UsageCommand.Key.class, UsageCommand.Owner.class, UsageCommand.Exporters.class,
        UsageCommand.Pause.class, UsageCommand.Resume.class, UsageCommand.Remove.class,
        UsageCommand.Tail.class})
final class UsageCommand {
  private UsageCommand() {}

  /** The window options both queries take. */
  static final class Window {
    @Option(names = "--from", paramLabel = "INSTANT",
        description = "Start, ISO-8601 (2026-11-30T00:00:00Z); default: the span before --to.")
    String from;

    @Option(names = "--to", paramLabel = "INSTANT",
        description = "End (exclusive), ISO-8601; default: the end of the current bucket.")
    String to;

    @Option(names = "--granularity", paramLabel = "WIDTH", defaultValue = "hour",
        description = "minute, hour or day (default hour).")
    String granularity;

    String query(String first) {
      StringBuilder query = new StringBuilder(first);
      append(query, "granularity", granularity);
      append(query, "from", from);
      append(query, "to", to);
      return query.toString();
    }

    private static void append(StringBuilder query, String name, String value) {
      if (value != null) {
        query.append(query.indexOf("?") < 0 ? '?' : '&').append(name).append('=')
            .append(URLEncoder.encode(value, StandardCharsets.UTF_8));
      }
    }
  }

  @Command(name = "key", mixinStandardHelpOptions = true,
      description = "One key's verifications per bucket, by outcome, and when it was last used.")
  static final class Key implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Mixin Window window;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY_ID")
    String keyId;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", window.query("/v1/keys/"
          + URLEncoder.encode(keyId, StandardCharsets.UTF_8) + "/usage"), null), spec);
    }
  }

  @Command(name = "owner", mixinStandardHelpOptions = true,
      description = "The verifications of every key of an owner, summed per bucket.")
  static final class Owner implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Mixin Window window;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "OWNER_ID")
    String ownerId;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", window.query("/v1/usage?ownerId="
          + URLEncoder.encode(ownerId, StandardCharsets.UTF_8)), null), spec);
    }
  }

  @Command(name = "exporters", mixinStandardHelpOptions = true,
      description = "Each usage exporter this node runs, and each cursor in the database no"
          + " exporter of this node owns (runsHere false): paused or not, lag (batches), last"
          + " error.")
  static final class Exporters implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", "/v1/usage/exporters", null), spec);
    }
  }

  /** Pause and resume: the same call but for the last path element. */
  abstract static class ExporterAction implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", description = "The exporter (nats, webhook, jsonl).")
    String name;

    abstract String action();

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("POST", "/v1/usage/exporters/"
          + URLEncoder.encode(name, StandardCharsets.UTF_8) + "/" + action(), null), spec);
    }
  }

  @Command(name = "pause", mixinStandardHelpOptions = true,
      description = "Pause an exporter: its cursor waits, nothing is lost.")
  static final class Pause extends ExporterAction {
    @Override
    String action() {
      return "pause";
    }
  }

  @Command(name = "resume", mixinStandardHelpOptions = true,
      description = "Resume a paused exporter from its cursor.")
  static final class Resume extends ExporterAction {
    @Override
    String action() {
      return "resume";
    }
  }

  @Command(name = "remove", mixinStandardHelpOptions = true,
      description = "Forget the cursor of an exporter taken out of every node's configuration, so"
          + " that the outbox rows it never delivered can be deleted. Refused for an exporter"
          + " the server runs and for a cursor any node used in the last 3 minutes.")
  static final class Remove implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", description = "The exporter (nats, webhook, jsonl).")
    String name;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("DELETE", "/v1/usage/exporters/"
          + URLEncoder.encode(name, StandardCharsets.UTF_8), null), spec);
    }
  }

  @Command(name = "tail", mixinStandardHelpOptions = true,
      description = "Subscribe to the usage batches a server exports to NATS and print each, one"
          + " JSON line per batch part (a NATS subscriber, for trying the export out).")
  static final class Tail implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--nats", defaultValue = "${env:KEYWARD_USAGE_NATS:-nats://127.0.0.1:4222}",
        description = "The NATS server (env KEYWARD_USAGE_NATS; default nats://127.0.0.1:4222).")
    String nats;

    @Option(names = "--subject", defaultValue = "${env:KEYWARD_USAGE_NATS_SUBJECT:-keyward.usage}",
        description = "The subject (default keyward.usage).")
    String subject;

    @Option(names = "--count", paramLabel = "N", defaultValue = "0",
        description = "Stop after N messages (default: until interrupted).")
    int count;

    @Option(names = "--timeout-seconds", paramLabel = "S", defaultValue = "0",
        description = "Stop after S seconds without a message (default: never).")
    int timeoutSeconds;

    @Override
    public Integer call() throws InterruptedException {
      if (count < 0 || timeoutSeconds < 0) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--count and --timeout-seconds must not be negative");
      }
      io.nats.client.Connection connection;
      try {
        connection = io.nats.client.Nats.connect(io.nats.client.Options.builder().server(nats)
            .connectionTimeout(java.time.Duration.ofSeconds(2)).build());
      } catch (java.io.IOException | IllegalArgumentException e) {
        spec.commandLine().getErr().println("keyward: cannot reach NATS at " + nats + ": "
            + e.getMessage());
        return 2;
      }
      try (connection) {
        io.nats.client.Subscription subscription = connection.subscribe(subject);
        var out = spec.commandLine().getOut();
        for (int seen = 0; count == 0 || seen < count; seen++) {
          io.nats.client.Message message = subscription.nextMessage(
              java.time.Duration.ofSeconds(timeoutSeconds == 0 ? 3_600 : timeoutSeconds));
          if (message == null) {
            if (timeoutSeconds > 0) {
              return seen > 0 ? 0 : 1;
            }
            seen--;
            continue;
          }
          out.println(new String(message.getData(), StandardCharsets.UTF_8));
          out.flush();
        }
        return 0;
      }
    }
  }
}
