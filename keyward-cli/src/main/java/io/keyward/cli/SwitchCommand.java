package io.keyward.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code keyward switch}: rollout switches on a running server ({@code /v1/switches}): list them
 * with the nodes that applied each, change a stage, read the audit trail and the candidate's
 * disagreements. No restart and no deploy.
 */
@Command(name = "switch", mixinStandardHelpOptions = true,
    description = "Rollout switches: every risky path goes off -> shadow -> canary -> on, and a"
        + " guard turns it off by itself.",
    subcommands = {SwitchCommand.ListSwitches.class, SwitchCommand.Set.class,
        SwitchCommand.History.class, SwitchCommand.Disagreements.class})
final class SwitchCommand {
  private SwitchCommand() {}

  @Command(name = "list", mixinStandardHelpOptions = true,
      description = "Every switch: stage, version, guard, and which live nodes applied it.")
  static final class ListSwitches implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", "/v1/switches", null), spec);
    }
  }

  @Command(name = "set", mixinStandardHelpOptions = true,
      description = "Change a switch's stage; every node applies it within about a second.")
  static final class Set implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", description = "The switch (cache.l2, verify.foreign-filter).")
    String name;

    @Parameters(index = "1", paramLabel = "STAGE", description = "off, shadow, canary or on.")
    String stage;

    @Option(names = "--reason", required = true, description = "Why, for the audit trail.")
    String reason;

    @Option(names = "--canary-basis-points", paramLabel = "N",
        description = "Share of keys in the canary, 0-10000 (required for canary).")
    Integer canaryBasisPoints;

    @Option(names = "--sample-basis-points", paramLabel = "N",
        description = "Share of calls compared in shadow, 0-10000 (default 1000).")
    Integer sampleBasisPoints;

    @Override
    public Integer call() {
      Map<String, Object> change = new LinkedHashMap<>();
      change.put("stage", stage);
      change.put("reason", reason);
      if (canaryBasisPoints != null) {
        change.put("canaryBasisPoints", canaryBasisPoints);
      }
      if (sampleBasisPoints != null) {
        change.put("sampleBasisPoints", sampleBasisPoints);
      }
      return KeysCommand.print(connection.client().send("PUT", "/v1/switches/" + name, change),
          spec);
    }
  }

  @Command(name = "history", mixinStandardHelpOptions = true,
      description = "A switch's changes, newest first: who, why, and the guard's evidence.")
  static final class History implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME") String name;

    @Option(names = "--limit", description = "Entries (1-500, default 50).")
    Integer limit;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", "/v1/switches/" + name
          + "/history" + (limit == null ? "" : "?limit=" + limit), null), spec);
    }
  }

  @Command(name = "disagreements", mixinStandardHelpOptions = true,
      description = "The candidate's last 100 disagreements on the node asked (key ids only).")
  static final class Disagreements implements Callable<Integer> {
    @Mixin KeysCommand.Connection connection;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME") String name;

    @Override
    public Integer call() {
      return KeysCommand.print(connection.client().send("GET", "/v1/switches/" + name
          + "/disagreements", null), spec);
    }
  }
}
