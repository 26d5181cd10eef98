package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.testing.Eventually;
import io.keyward.testing.MutableClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The node registry on the real PostgreSQL. */
class NodeRegistryTest {
  private final MutableClock clock = MutableClock.startingAt2030();

  private NodeRegistry node(TestDatabase database, String id, String release) {
    return NodeRegistry.start(database.pool(), clock, id, release, "SELECT 1;\n-- " + release,
        "host-" + id, new SimpleMeterRegistry());
  }

  @Test
  void runningNodesAreLiveWithTheirReleaseAndContractUntilTheyStopOrFallSilent() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      NodeRegistry a = node(database, "node_a", "0.1.0");
      NodeRegistry b = node(database, "node_b", "0.2.0");

      assertThat(a.liveNodes()).extracting(NodeRegistry.Node::nodeId, NodeRegistry.Node::release)
          .containsExactly(org.assertj.core.groups.Tuple.tuple("node_a", "0.1.0"),
              org.assertj.core.groups.Tuple.tuple("node_b", "0.2.0"));
      assertThat(a.liveNodes().get(0).contractSha256())
          .isEqualTo(NodeRegistry.contractHash("SELECT 1;\n-- 0.1.0"))
          .isNotEqualTo(a.liveNodes().get(1).contractSha256());

      b.close(); // a graceful stop
      assertThat(a.liveNodes()).extracting(NodeRegistry.Node::nodeId).containsExactly("node_a");

      // A killed node stops beating: its last heartbeat grows old (on the database's clock).
      database.execute("UPDATE keyward_nodes SET heartbeat_at = now() - interval '1 minute'");
      assertThat(a.liveNodes()).isEmpty();
      a.beat();
      assertThat(a.liveNodes()).extracting(NodeRegistry.Node::nodeId).containsExactly("node_a");
      a.close();
    }
  }

  @Test
  void rowsOfNodesSilentForAWeekAreForgottenAtStartAndRecentOnesKept() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      node(database, "node_old", "0.1.0").close();
      node(database, "node_recent", "0.1.0").close();
      database.execute("UPDATE keyward_nodes SET heartbeat_at = now() - interval '8 days'"
          + " WHERE node_id = 'node_old'");

      try (NodeRegistry starting = node(database, "node_new", "0.2.0")) {
        // the statement failed on every start (make_interval(days => bigint) does not exist)
        assertThat(database.queryForString("SELECT string_agg(node_id, ',' ORDER BY node_id)"
            + " FROM keyward_nodes")).isEqualTo("node_new,node_recent");
      }
    }
  }

  @Test
  void registryIsOffUntilItsTableIsVisibleAndTheNodeWorksMeanwhile() {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      NodeRegistry early = node(database, "node_early", "0.3.0"); // started before the migration

      assertThat(early.gate().isOpen()).isFalse();
      assertThat(early.liveNodes()).isEmpty();

      Migrations.migrate(database.url());
      clock.advance(NodeRegistry.HEARTBEAT_EVERY);
      Eventually.await(() -> early.gate().isOpen());
      early.beat();
      assertThat(early.liveNodes()).extracting(NodeRegistry.Node::nodeId)
          .containsExactly("node_early");
      early.close();
    }
  }

  @Test
  void aNodesOwnClockNeitherHidesItNorKeepsItAlive() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      clock.advance(java.time.Duration.ofHours(3)); // this node's clock runs far ahead
      NodeRegistry node = node(database, "node_fast", "0.1.0");

      assertThat(node.liveNodes()).extracting(NodeRegistry.Node::nodeId).containsExactly("node_fast");
      node.close();
      node.beat(); // a heartbeat after the stop does not bring it back
      assertThat(node.liveNodes()).isEmpty();
    }
  }

  @Test
  void contractHashChangesWithAnyStatement() {
    assertThat(NodeRegistry.contractHash("SELECT a FROM t;"))
        .isNotEqualTo(NodeRegistry.contractHash("SELECT b FROM t;"))
        .hasSize(64);
  }
}
