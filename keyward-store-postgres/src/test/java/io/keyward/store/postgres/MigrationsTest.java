package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Migrations against the real PostgreSQL: they give way to lookups and fail in one line. */
class MigrationsTest {

  @Test
  void migrationBehindALongTransactionGivesUpItsLockWaitInsteadOfQueueingLookups() throws Exception {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      Migrations.migrate(database.url(), "classpath:db/heldtable", Duration.ofSeconds(1), 1,
          Duration.ofMillis(50)); // creates table "held"
      try (Connection blocker = database.pool().getConnection()) {
        // A long transaction that has read the table: ALTER TABLE must wait for it, and every
        // query of the table queued behind that ALTER would wait too (incident I-1).
        blocker.setAutoCommit(false);
        blocker.createStatement().execute("SELECT * FROM held");

        assertThatThrownBy(() -> Migrations.migrate(database.url(), "classpath:db/locktest",
                Duration.ofMillis(200), 3, Duration.ofMillis(50)))
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("gave up after 3 attempts")
            .hasMessageContaining("lock")
            .hasMessageNotContaining("\n");

        // The blocker was never disturbed, and the table is readable beside it at once: no
        // ALTER is left queued in front of the lookups.
        try (Connection lookup = database.pool().getConnection()) {
          lookup.createStatement().execute("SET lock_timeout = '1s'");
          lookup.createStatement().executeQuery("SELECT * FROM held").close();
        }
        assertThat(blocker.isValid(1)).isTrue();
        blocker.rollback();
      }

      assertThat(Migrations.migrate(database.url(), "classpath:db/locktest",
          Duration.ofMillis(200), 3, Duration.ofMillis(50))).isEqualTo(1);
    }
  }

  @Test
  void concurrentIndexBuildWaitsForOlderTransactionsInsteadOfFailingTheDeploy() throws Exception {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      java.util.concurrent.CompletableFuture<Integer> migrated;
      try (Connection backup = database.pool().getConnection()) {
        // A long transaction, as a backup or a report holds: CREATE INDEX CONCURRENTLY must wait
        // for it to end, which blocks nobody; with the DDL lock timeout it would fail instead.
        backup.setAutoCommit(false);
        backup.createStatement().executeQuery("SELECT txid_current()").close();
        migrated = java.util.concurrent.CompletableFuture.supplyAsync(() -> Migrations.migrate(
            database.url(), "classpath:db/cictest", Duration.ofMillis(200), 1, Duration.ofMillis(50)));
        io.keyward.testing.Eventually.await(() -> "t".equals(database.queryForString(
            "SELECT (count(*) > 0)::text FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                + " AND query LIKE 'CREATE INDEX CONCURRENTLY%'").substring(0, 1)));
        assertThat(migrated).isNotDone();
        backup.rollback();
      }
      assertThat(migrated.get(60, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(2);
      assertThat(database.queryForString("SELECT indisvalid::text FROM pg_index"
          + " WHERE indexrelid = 'built_id_idx'::regclass")).isEqualTo("true");
    }
  }

  @Test
  void unreachableDatabaseIsOneLineNamingTheAddress() {
    DatabaseUrl nowhere = DatabaseUrl.parse("jdbc:postgresql://127.0.0.1:1/none?user=postgres");

    assertThatThrownBy(() -> Migrations.migrate(nowhere))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("cannot reach the database at")
        .hasMessageContaining("127.0.0.1:1")
        .hasMessageNotContaining("\n");
  }

  @Test
  void indexMigrationBuiltConcurrentlyIsAppliedAndValid() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      assertThat(database.queryForString("SELECT indisvalid::text FROM pg_index"
          + " WHERE indexrelid = 'api_keys_rotated_from_idx'::regclass")).isEqualTo("true");
    }
  }
}
