package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.Backfill;
import io.keyward.store.postgres.BackfillRunner;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.Eventually;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Backfills after migrate-at-start, on the real PostgreSQL: in the background, with metrics. */
class BackfillWorkerTest {
  private static final Backfill DOUBLE_A = new Backfill("double_a", "items", "id", "b = a * 2",
      "b IS NULL");
  private static final BackfillRunner.Settings FAST = new BackfillRunner.Settings(500,
      Duration.ZERO, Duration.ofMillis(200), Duration.ofSeconds(30), 1);

  private static TestDatabase itemsDatabase() {
    TestDatabase database = TestDatabase.createMigrated();
    database.execute("CREATE TABLE items (id bigint PRIMARY KEY, a int NOT NULL, b int)");
    database.execute("INSERT INTO items (id, a) SELECT g, g FROM generate_series(1, 2200) g");
    return database;
  }

  private static double gauge(SimpleMeterRegistry registry, String name) {
    return registry.get(name).tag("backfill", "double_a").gauge().value();
  }

  @Test
  void aWorkerWithNoBackfillsStartsNothingAndClosesQuietly() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      BackfillWorker worker = BackfillWorker.start(database.pool(), List.of(),
          new SimpleMeterRegistry());

      worker.close(); // threw IllegalThreadStateException at every server stop
    }
  }

  @Test
  void backfillRunsInTheBackgroundAndItsProgressIsAMetric() {
    try (TestDatabase database = itemsDatabase()) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();

      try (BackfillWorker worker = BackfillWorker.start(database.pool(), List.of(DOUBLE_A), FAST,
          Duration.ofMillis(50), registry)) {
        Eventually.await(() -> gauge(registry, "keyward.backfill.done") == 1);
      }

      assertThat(gauge(registry, "keyward.backfill.rows")).isEqualTo(2200);
      assertThat(gauge(registry, "keyward.backfill.batches")).isEqualTo(5);
      assertThat(database.queryForString("SELECT count(*) FROM items WHERE b = a * 2"))
          .isEqualTo("2200");
    }
  }

  @Test
  void backfillThatFailsIsCountedAndTriedAgainFromItsLastBatch() throws Exception {
    try (TestDatabase database = itemsDatabase()) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      try (Connection holder = DriverManager.getConnection(database.url().jdbcUrl())) {
        holder.setAutoCommit(false);
        holder.createStatement().execute("SELECT * FROM items WHERE id = 1200 FOR UPDATE");

        try (BackfillWorker worker = BackfillWorker.start(database.pool(), List.of(DOUBLE_A), FAST,
            Duration.ofMillis(50), registry)) {
          Eventually.await(() -> registry.get("keyward.backfill.failures").counter().count() >= 2);
          assertThat(gauge(registry, "keyward.backfill.done")).isZero();
          assertThat(gauge(registry, "keyward.backfill.rows")).isEqualTo(1000);
          holder.rollback(); // the lock goes: the next try finishes

          Eventually.await(() -> gauge(registry, "keyward.backfill.done") == 1);
        }
      }
      assertThat(database.queryForString("SELECT count(*) FROM items WHERE b = a * 2"))
          .isEqualTo("2200");
    }
  }
}
