package io.keyward.store.postgres;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import javax.sql.DataSource;

/**
 * Runs {@link Backfill}s the way a data migration should run beside live traffic: in batches of
 * a bounded size, each its own short transaction with a {@code lock_timeout} and a {@code
 * statement_timeout}, a pause between batches, and its progress (the last key done and the rows
 * so far) committed together with its rows in {@code keyward_backfills}, so a backfill stopped
 * at any point (a crash, a deploy) resumes after the last batch that committed and never updates
 * a row twice. A batch that cannot get its locks in time is tried again after a backoff.
 */
public final class BackfillRunner {
  /** Batching and throttling. */
  public record Settings(int batchSize, Duration pause, Duration lockTimeout,
      Duration statementTimeout, int attempts) {
    /** 1,000 rows a batch, 50 ms between batches, 2 s lock and 30 s statement timeouts, 5 tries. */
    public static final Settings DEFAULTS = new Settings(1_000, Duration.ofMillis(50),
        Duration.ofSeconds(2), Duration.ofSeconds(30), 5);

    public Settings {
      if (batchSize < 1 || batchSize > 100_000) {
        throw new IllegalArgumentException("batch size must be from 1 to 100000, got " + batchSize);
      }
      if (attempts < 1) {
        throw new IllegalArgumentException("attempts must be at least 1, got " + attempts);
      }
    }
  }

  /** Progress after a batch: what a CLI prints and a test watches. */
  public record Progress(String name, long rowsDone, long batches, boolean done) {}

  private final DataSource pool;
  private final Settings settings;

  public BackfillRunner(DataSource pool, Settings settings) {
    this.pool = pool;
    this.settings = settings;
  }

  /** Runs each backfill to the end (those already done are skipped). */
  public void runAll(List<Backfill> backfills, Consumer<Progress> progress) {
    for (Backfill backfill : backfills) {
      run(backfill, progress);
    }
  }

  /**
   * Runs one backfill to the end.
   *
   * @throws IllegalStateException in one line when a batch keeps failing; what committed stays
   */
  public Progress run(Backfill backfill, Consumer<Progress> progress) {
    try (Connection connection = pool.getConnection()) {
      String keyType = keyType(connection, backfill);
      requireUniqueKey(connection, backfill);
      start(connection, backfill);
      String key = backfill.keyColumn();
      // The batch is chosen by key; the UPDATE checks `pending` again on each row's current
      // version, so a value the application wrote since the batch was chosen is never
      // overwritten. Done is decided by how many rows the batch chose, not how many changed.
      String update = "WITH batch AS (SELECT " + key + " AS batch_key FROM " + backfill.table()
          + " WHERE (" + backfill.pending() + ") AND (CAST(? AS text) IS NULL OR " + key
          + " > CAST(? AS " + keyType + ")) ORDER BY " + key + " LIMIT ?),"
          + " updated AS (UPDATE " + backfill.table() + " SET " + backfill.set()
          + " FROM batch WHERE " + backfill.table() + "." + key + " = batch.batch_key AND ("
          + backfill.pending() + ") RETURNING 1)"
          + " SELECT (SELECT count(*) FROM batch),"
          + " (SELECT batch_key::text FROM batch ORDER BY batch_key DESC LIMIT 1),"
          + " (SELECT count(*) FROM updated)";
      while (true) {
        Progress step = batchWithRetries(connection, backfill, update);
        progress.accept(step);
        if (step.done()) {
          return step;
        }
        Thread.sleep(settings.pause());
      }
    } catch (SQLException e) {
      throw new IllegalStateException("backfill " + backfill.name() + " failed: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("backfill " + backfill.name() + " interrupted", e);
    }
  }

  private Progress batchWithRetries(Connection connection, Backfill backfill, String update)
      throws SQLException, InterruptedException {
    for (int attempt = 1; ; attempt++) {
      try {
        return batch(connection, backfill, update);
      } catch (SQLException e) {
        boolean retryable = "55P03".equals(e.getSQLState()) || "57014".equals(e.getSQLState())
            || "40001".equals(e.getSQLState()) || "40P01".equals(e.getSQLState());
        if (!retryable || attempt >= settings.attempts()) {
          throw e;
        }
        Thread.sleep(settings.pause().multipliedBy(1L << Math.min(attempt, 6)).plusMillis(100));
      }
    }
  }

  /** One batch and its progress, committed together. */
  private Progress batch(Connection connection, Backfill backfill, String update)
      throws SQLException {
    connection.setAutoCommit(false);
    try {
      try (Statement limits = connection.createStatement()) {
        limits.execute("SET LOCAL lock_timeout = " + settings.lockTimeout().toMillis());
        limits.execute("SET LOCAL statement_timeout = " + settings.statementTimeout().toMillis());
      }
      String cursor;
      try (PreparedStatement read = connection.prepareStatement(
          "SELECT cursor_key, done_at IS NOT NULL FROM keyward_backfills WHERE name = ? FOR UPDATE")) {
        read.setString(1, backfill.name());
        try (ResultSet rs = read.executeQuery()) {
          rs.next();
          cursor = rs.getString(1);
          if (rs.getBoolean(2)) {
            connection.commit();
            return progress(connection, backfill);
          }
        }
      }
      int chosen;
      int rows;
      String lastKey;
      try (PreparedStatement batch = connection.prepareStatement(update)) {
        batch.setString(1, cursor);
        batch.setString(2, cursor);
        batch.setInt(3, settings.batchSize());
        try (ResultSet rs = batch.executeQuery()) {
          rs.next();
          chosen = rs.getInt(1);
          lastKey = chosen == 0 ? cursor : rs.getString(2);
          rows = rs.getInt(3);
        }
      }
      try (PreparedStatement save = connection.prepareStatement(
          "UPDATE keyward_backfills SET cursor_key = ?, rows_done = rows_done + ?,"
              + " batches = batches + 1, updated_at = now(),"
              + " done_at = CASE WHEN ? THEN now() END WHERE name = ?")) {
        save.setString(1, lastKey);
        save.setInt(2, rows);
        save.setBoolean(3, chosen < settings.batchSize());
        save.setString(4, backfill.name());
        save.executeUpdate();
      }
      connection.commit();
      return progress(connection, backfill);
    } catch (SQLException | RuntimeException e) {
      connection.rollback(); // nothing of a failed batch stays, its cursor included
      throw e;
    } finally {
      connection.setAutoCommit(true);
    }
  }

  private static Progress progress(Connection connection, Backfill backfill) throws SQLException {
    try (PreparedStatement read = connection.prepareStatement(
        "SELECT rows_done, batches, done_at IS NOT NULL FROM keyward_backfills WHERE name = ?")) {
      read.setString(1, backfill.name());
      try (ResultSet rs = read.executeQuery()) {
        rs.next();
        return new Progress(backfill.name(), rs.getLong(1), rs.getLong(2), rs.getBoolean(3));
      }
    }
  }

  private static void start(Connection connection, Backfill backfill) throws SQLException {
    try (PreparedStatement insert = connection.prepareStatement(
        "INSERT INTO keyward_backfills (name) VALUES (?) ON CONFLICT (name) DO NOTHING")) {
      insert.setString(1, backfill.name());
      insert.executeUpdate();
    }
  }

  /** The walk by key is only exact over a unique, NOT NULL key (ties and NULLs would be skipped). */
  private static void requireUniqueKey(Connection connection, Backfill backfill) throws SQLException {
    try (PreparedStatement unique = connection.prepareStatement(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            + " AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(?) AND i.indisunique"
            + " AND i.indnkeyatts = 1 AND a.attname = ? AND a.attnotnull)")) {
      unique.setString(1, backfill.table());
      unique.setString(2, backfill.keyColumn());
      try (ResultSet rs = unique.executeQuery()) {
        rs.next();
        if (!rs.getBoolean(1)) {
          throw new IllegalStateException("backfill " + backfill.name() + ": "
              + backfill.table() + "." + backfill.keyColumn() + " must be a unique, NOT NULL"
              + " column (a primary key) to walk the table by");
        }
      }
    }
  }

  private static String keyType(Connection connection, Backfill backfill) throws SQLException {
    try (PreparedStatement type = connection.prepareStatement(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
            + " WHERE a.attrelid = to_regclass(?) AND a.attname = ? AND NOT a.attisdropped")) {
      type.setString(1, backfill.table());
      type.setString(2, backfill.keyColumn());
      try (ResultSet rs = type.executeQuery()) {
        if (!rs.next()) {
          throw new IllegalStateException("backfill " + backfill.name() + ": no column "
              + backfill.table() + "." + backfill.keyColumn());
        }
        return rs.getString(1);
      }
    }
  }
}
