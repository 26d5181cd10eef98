package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Backfills on the real PostgreSQL: batched, resumable, never twice, giving way to locks. */
class BackfillRunnerTest {
  private static final Backfill DOUBLE_A = new Backfill("double_a", "items", "id",
      "b = a * 2, touched = touched + 1", "b IS NULL");
  private static final BackfillRunner.Settings FAST =
      new BackfillRunner.Settings(1_000, Duration.ZERO, Duration.ofMillis(200), Duration.ofSeconds(30), 3);

  private static TestDatabase itemsDatabase() {
    TestDatabase database = TestDatabase.createMigrated();
    database.execute("CREATE TABLE items (id bigint PRIMARY KEY, a int NOT NULL, b int,"
        + " touched int NOT NULL DEFAULT 0)");
    database.execute("INSERT INTO items (id, a) SELECT g, g FROM generate_series(1, 10500) g");
    return database;
  }

  private static void assertEveryRowDoneExactlyOnce(TestDatabase database) {
    assertThat(database.queryForString("SELECT count(*) FILTER (WHERE b = a * 2 AND touched = 1)"
        + " || '/' || count(*) FROM items")).isEqualTo("10500/10500");
  }

  @Test
  void backfillRunsInBatchesOutsideAnyDdlTransactionAndRecordsItsProgress() {
    try (TestDatabase database = itemsDatabase()) {
      List<BackfillRunner.Progress> steps = new ArrayList<>();

      BackfillRunner.Progress done = new BackfillRunner(database.pool(), FAST).run(DOUBLE_A, steps::add);

      assertThat(done).isEqualTo(new BackfillRunner.Progress("double_a", 10500, 11, true));
      assertThat(steps).hasSize(11).first().isEqualTo(new BackfillRunner.Progress("double_a", 1000, 1, false));
      assertEveryRowDoneExactlyOnce(database);
      assertThat(new BackfillRunner(database.pool(), FAST).run(DOUBLE_A, step -> {}))
          .isEqualTo(done); // done is done: nothing runs again
    }
  }

  @Test
  void stoppedBackfillResumesAfterItsLastCommittedBatchAndNeverUpdatesARowTwice() {
    try (TestDatabase database = itemsDatabase()) {
      BackfillRunner runner = new BackfillRunner(database.pool(), FAST);
      assertThatThrownBy(() -> runner.run(DOUBLE_A, step -> {
        if (step.batches() == 3) {
          throw new IllegalStateException("the process dies here");
        }
      })).hasMessage("the process dies here");
      assertThat(database.queryForString("SELECT rows_done || '/' || batches FROM keyward_backfills"))
          .isEqualTo("3000/3");

      BackfillRunner.Progress done = runner.run(DOUBLE_A, step -> {});

      assertThat(done.rowsDone()).isEqualTo(10500);
      assertEveryRowDoneExactlyOnce(database);
    }
  }

  @Test
  void batchThatCannotGetItsLocksGivesWayAndTheBackfillFinishesOnceTheyAreFree() throws Exception {
    try (TestDatabase database = itemsDatabase()) {
      BackfillRunner runner = new BackfillRunner(database.pool(), FAST);
      try (Connection holder = java.sql.DriverManager.getConnection(database.url().jdbcUrl())) {
        holder.setAutoCommit(false);
        holder.createStatement().execute("SELECT * FROM items WHERE id = 2500 FOR UPDATE");

        assertThatThrownBy(() -> runner.run(DOUBLE_A, step -> {}))
            .isInstanceOf(IllegalStateException.class).hasMessageContaining("lock");
        assertThat(database.queryForString("SELECT rows_done FROM keyward_backfills")).isEqualTo("2000");
        holder.rollback();
      }

      assertThat(runner.run(DOUBLE_A, step -> {}).done()).isTrue();
      assertEveryRowDoneExactlyOnce(database);
    }
  }

  @Test
  void tableWithoutAUniqueKeyIsRefusedBeforeAnythingIsWritten() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      database.execute("CREATE TABLE loose (id bigint, a int, b int, touched int DEFAULT 0)");
      database.execute("INSERT INTO loose (id, a) SELECT g % 10, g FROM generate_series(1, 100) g");

      assertThatThrownBy(() -> new BackfillRunner(database.pool(), FAST).run(
          new Backfill("loose_b", "loose", "id", "b = a", "b IS NULL"), step -> {}))
          .hasMessageContaining("loose.id must be a unique, NOT NULL column");
      assertThat(database.queryForString("SELECT count(b) FROM loose")).isEqualTo("0");
    }
  }
}
