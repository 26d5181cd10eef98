package io.keyward.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code keyward nodes}: the live nodes of the deployment as the node registry records them
 * (id, host, release, schema version, last heartbeat), from a running server's
 * {@code GET /v1/nodes}. What the contract gate looks at before a contract migration.
 */
@Command(name = "nodes", mixinStandardHelpOptions = true,
    description = "List the live nodes (release, schema version, last heartbeat): the nodes whose"
        + " queries keyward migrate will not break.")
final class NodesCommand implements Callable<Integer> {
  @Mixin KeysCommand.Connection connection;
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    return KeysCommand.print(connection.client().send("GET", "/v1/nodes", null), spec);
  }
}
