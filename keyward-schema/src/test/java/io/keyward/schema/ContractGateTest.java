package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.store.postgres.Migrations;
import io.keyward.store.postgres.NodeRegistry;
import io.keyward.store.postgres.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Incident I-3 against the real PostgreSQL: a migration that breaks the contract of a release
 * still running is refused and rolled back, naming the nodes and statements; its expand version,
 * an override with a reason, or the old nodes being gone let it through.
 */
class ContractGateTest {
  /** Release N reads the column that the next migration renames. */
  private static final String RELEASE_N = """
      -- The query contract of release N
      SELECT key_id, name FROM api_keys WHERE key_id = $1;
      """;

  private static NodeRegistry liveNode(TestDatabase database) {
    return NodeRegistry.start(database.pool(), Clock.systemUTC(), "node_n", "0.9.0", RELEASE_N,
        "host-n", new SimpleMeterRegistry());
  }

  private static int migrateWith(TestDatabase database, String extra, String overrideReason) {
    return Migrations.migrate(database.url(), "classpath:db/migration,classpath:db/gatetest/" + extra,
        Duration.ofSeconds(5), 1, Duration.ofMillis(50),
        ContractGate.forDatabase(database.url(), overrideReason));
  }

  private static String column(TestDatabase database, String name) {
    return database.queryForString("SELECT count(*)::text FROM information_schema.columns"
        + " WHERE table_name = 'api_keys' AND column_name = '" + name + "'");
  }

  @Test
  void migrationThatBreaksALiveReleaseIsRolledBackNamingTheNodesAndStatements() {
    try (TestDatabase database = TestDatabase.createMigrated(); NodeRegistry n = liveNode(database)) {
      assertThatThrownBy(() -> migrateWith(database, "rename", null))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("V100__rename_name.sql breaks the query contract of live node(s)"
              + " node_n (0.9.0): statement 1 (SELECT key_id, name FROM api_keys")
          .hasMessageContaining("42703")
          .hasMessageContaining("rolled back");

      assertThat(column(database, "name")).isEqualTo("1");
      assertThat(database.queryForString("SELECT max(version::int)::text FROM"
          + " keyward_schema_history WHERE success")).isEqualTo("7");
    }
  }

  @Test
  void expandVersionOfTheSameChangeIsApplied() {
    try (TestDatabase database = TestDatabase.createMigrated(); NodeRegistry n = liveNode(database)) {
      assertThat(migrateWith(database, "expand", null)).isEqualTo(1);
      assertThat(column(database, "display_name")).isEqualTo("1");
    }
  }

  @Test
  void overrideWithAReasonAppliesItAndRecordsWhy() {
    try (TestDatabase database = TestDatabase.createMigrated(); NodeRegistry n = liveNode(database)) {
      assertThat(migrateWith(database, "rename", "0.9.0 nodes are draining; accepted")).isEqualTo(1);

      assertThat(column(database, "display_name")).isEqualTo("1");
      assertThat(database.queryForString("SELECT reason || ' | ' || script FROM"
          + " keyward_migration_overrides")).isEqualTo("0.9.0 nodes are draining; accepted |"
          + " V100__rename_name.sql");
    }
  }

  @Test
  void contractMigrationWaitsOnlyWhileSuchANodeIsLive() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      liveNode(database).close(); // the last release-N node stopped

      assertThat(migrateWith(database, "rename", null)).isEqualTo(1);
    }
  }

  @Test
  void contractThatTriesToEndTheMigrationsTransactionCannot() {
    try (TestDatabase database = TestDatabase.createMigrated();
        NodeRegistry n = NodeRegistry.start(database.pool(), Clock.systemUTC(), "node_x", "9.9.9",
            "COMMIT;\nSELECT pg_advisory_lock(1);\n" + RELEASE_N, "host-x",
            new SimpleMeterRegistry())) {
      assertThatThrownBy(() -> migrateWith(database, "rename", null))
          .hasMessageContaining("statement 3");

      assertThat(column(database, "name")).isEqualTo("1"); // rolled back, not committed
      assertThat(database.queryForString("SELECT count(*)::text FROM pg_locks"
          + " WHERE locktype = 'advisory'")).isEqualTo("0");
    }
  }
}
