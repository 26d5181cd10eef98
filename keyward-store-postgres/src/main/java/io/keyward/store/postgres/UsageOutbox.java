package io.keyward.store.postgres;

import io.keyward.store.StoreException;
import io.keyward.usage.UsageExport;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * The exporters' side of the usage outbox: each exporter's durable cursor, and reading the rows
 * after it in commit order.
 *
 * <h2>Why a cursor on the id would skip rows</h2>
 * A {@code bigserial} is handed out when a row is inserted, not when its transaction commits: a
 * flush that took id 7 may commit after one that took id 8. A reader that has seen 8 and asks for
 * "id > 8" never sees 7. This reader instead orders rows by the id of the transaction that wrote
 * them ({@code txid}, then {@code id}) and reads only rows whose transaction is older than the
 * oldest transaction still running ({@code pg_snapshot_xmin(pg_current_snapshot())}): every
 * transaction below that horizon has finished, so no row can later appear below it, and the
 * cursor ({@code txid}, {@code id}) never passes a row that will still commit. A long transaction
 * elsewhere in the database holds the horizon back: export waits (its lag grows), nothing is lost.
 */
public final class UsageOutbox {
  static final String ENSURE_CURSOR = "INSERT INTO keyward_usage_cursors (exporter, txid, id,"
      + " paused, updated_at) VALUES (?, '0'::xid8, 0, false, ?) ON CONFLICT (exporter) DO NOTHING";
  static final String READ_CURSOR = "SELECT txid::text, id, paused, updated_at, last_error"
      + " FROM keyward_usage_cursors WHERE exporter = ?";
  static final String LIST_CURSORS = "SELECT exporter, txid::text, id, paused, updated_at,"
      + " last_error FROM keyward_usage_cursors ORDER BY exporter";
  static final String READ_AFTER = "SELECT txid::text, id, node_id, seq, part, created_at,"
      + " payload::text, payload -> 'events' IS NOT NULL"
      + " FROM keyward_usage_outbox WHERE (txid, id) > (?::xid8, ?)"
      + " AND txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid, id LIMIT ?";
  /** The lag, counted up to {@value #LAG_COUNTED} (beyond, "at least" that many). */
  /**
   * Whether a cursor is ahead of every transaction the database has handed out: after a dump and
   * restore (or a move to another cluster) transaction ids start again lower, and such a cursor
   * would wait forever for rows that come in below it.
   */
  static final String CURSOR_AHEAD = "SELECT ?::xid8 >= pg_snapshot_xmax(pg_current_snapshot())";
  static final String COUNT_AFTER = "SELECT count(*) FROM (SELECT 1 FROM keyward_usage_outbox"
      + " WHERE (txid, id) > (?::xid8, ?) LIMIT " + UsageOutbox.LAG_COUNTED + ") AS lagging";
  public static final int LAG_COUNTED = 100_000;
  static final String ADVANCE = "UPDATE keyward_usage_cursors SET txid = ?::xid8, id = ?,"
      + " updated_at = ?, last_error = NULL WHERE exporter = ?";
  static final String SET_PAUSED = "UPDATE keyward_usage_cursors SET paused = ?, updated_at = ?"
      + " WHERE exporter = ?";
  static final String RECORD_ERROR = "UPDATE keyward_usage_cursors SET last_error = ?,"
      + " updated_at = ? WHERE exporter = ?";
  /**
   * Forgets an exporter's cursor if it has been quiet since the given time (no node has run it
   * since), so that it no longer holds rows back from {@link #DELETE_EXPORTED}.
   */
  static final String REMOVE_CURSOR = "DELETE FROM keyward_usage_cursors WHERE exporter = ?"
      + " AND updated_at < ?";
  /** A running exporter's sign of life, at most once per {@link #TOUCH_EVERY}. */
  static final String TOUCH_CURSOR = "UPDATE keyward_usage_cursors SET updated_at = ?"
      + " WHERE exporter = ?";
  /** Rows every cursor has passed, a batch at a time: what no exporter needs any more. */
  static final String DELETE_EXPORTED = "DELETE FROM keyward_usage_outbox WHERE ctid = ANY (ARRAY ("
      + "SELECT o.ctid FROM keyward_usage_outbox o WHERE NOT EXISTS (SELECT 1 FROM"
      + " keyward_usage_cursors c WHERE (c.txid, c.id) < (o.txid, o.id))"
      + " AND EXISTS (SELECT 1 FROM keyward_usage_cursors) LIMIT ?))";

  /** Every statement of this class, for the query contract. */
  public static final List<String> QUERY_CONTRACT = List.of(ENSURE_CURSOR, READ_CURSOR,
      LIST_CURSORS, READ_AFTER, CURSOR_AHEAD, COUNT_AFTER, ADVANCE, SET_PAUSED, RECORD_ERROR, REMOVE_CURSOR,
      TOUCH_CURSOR, DELETE_EXPORTED);

  /**
   * How often a running exporter marks its cursor as in use when it has nothing else to write
   * ({@link #touch}); every delivery, pause and error marks it too.
   */
  public static final Duration TOUCH_EVERY = Duration.ofMinutes(1);
  /**
   * How long a cursor must have been quiet before it can be removed ({@link #removeCursor}):
   * three of {@link #TOUCH_EVERY}, so that an exporter any node still runs (which marks its
   * cursor at least once a minute) is never taken for a left-over, with two minutes to spare for
   * a pass that is late or clocks that differ.
   */
  public static final Duration REMOVABLE_AFTER = TOUCH_EVERY.multipliedBy(3);

  private final DataSource pool;
  private final SchemaGate gate;
  private final Clock clock;

  public UsageOutbox(DataSource pool, SchemaGate usageGate, Clock clock) {
    this.pool = pool;
    this.gate = usageGate;
    this.clock = clock;
  }

  /** Where an exporter is: the last row it delivered, whether it is paused, its last error. */
  public record Cursor(String exporter, String txid, long id, boolean paused, Instant updatedAt,
      @Nullable String lastError) {}

  /**
   * One outbox row: a part of a node's flushed batch, as JSON: its counts ({@code {"counts":
   * [...]}}) or its verifications one by one ({@code {"events": [...]}}, {@link #kind} {@link
   * UsageExport#EVENTS}).
   */
  public record Row(String txid, long id, String nodeId, long seq, int part, Instant createdAt,
      String payloadJson, UsageExport kind) {
    /** The stable id of this delivery, {@code <node>:<batch>:<part>} (the same on every retry). */
    public String eventId() {
      return nodeId + ":" + seq + ":" + part;
    }
  }

  private <T> T gated(SchemaGate.GatedCall<T> call) {
    return gate.call(call, () -> {
      throw new StoreException("usage tables are not visible yet (schema gate usage closed: "
          + gate.closedBecause() + ")");
    });
  }

  /** The exporter's cursor, created at the start of the outbox if it has none. */
  public Cursor cursor(String exporter) {
    return gated(() -> {
      try (Connection connection = pool.getConnection()) {
        try (PreparedStatement ensure = connection.prepareStatement(ENSURE_CURSOR)) {
          ensure.setString(1, exporter);
          ensure.setTimestamp(2, Timestamp.from(clock.instant()));
          ensure.executeUpdate();
        }
        try (PreparedStatement read = connection.prepareStatement(READ_CURSOR)) {
          read.setString(1, exporter);
          try (ResultSet rs = read.executeQuery()) {
            rs.next();
            return new Cursor(exporter, rs.getString(1), rs.getLong(2), rs.getBoolean(3),
                rs.getTimestamp(4).toInstant(), rs.getString(5));
          }
        }
      }
    });
  }

  /** Every exporter's cursor. */
  public List<Cursor> cursors() {
    return gated(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement list = connection.prepareStatement(LIST_CURSORS);
          ResultSet rs = list.executeQuery()) {
        List<Cursor> cursors = new ArrayList<>();
        while (rs.next()) {
          cursors.add(new Cursor(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getBoolean(4),
              rs.getTimestamp(5).toInstant(), rs.getString(6)));
        }
        return cursors;
      }
    });
  }

  /**
   * Up to {@code limit} rows after the cursor, in commit order; only rows no commit can precede.
   *
   * @throws StoreException also when the cursor is ahead of the database's transaction ids (a
   *     restored database): an error the exporter reports, never a silent wait
   */
  public List<Row> after(Cursor cursor, int limit) {
    return gated(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement ahead = connection.prepareStatement(CURSOR_AHEAD);
          PreparedStatement read = connection.prepareStatement(READ_AFTER)) {
        ahead.setString(1, cursor.txid());
        try (ResultSet rs = ahead.executeQuery()) {
          if (rs.next() && rs.getBoolean(1)) {
            throw new StoreException("the cursor of exporter " + cursor.exporter() + " (transaction "
                + cursor.txid() + ") is ahead of this database's transactions: was it restored"
                + " from a dump? Reset the cursor (keyward_usage_cursors) to go on");
          }
        }
        read.setString(1, cursor.txid());
        read.setLong(2, cursor.id());
        read.setInt(3, limit);
        List<Row> rows = new ArrayList<>();
        try (ResultSet rs = read.executeQuery()) {
          while (rs.next()) {
            rows.add(new Row(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getLong(4),
                rs.getInt(5), rs.getTimestamp(6).toInstant(), rs.getString(7),
                rs.getBoolean(8) ? UsageExport.EVENTS : UsageExport.COUNTS));
          }
        }
        return rows;
      }
    });
  }

  /** How many rows are after the cursor (its lag), committed or not yet. */
  public long lag(Cursor cursor) {
    return gated(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement count = connection.prepareStatement(COUNT_AFTER)) {
        count.setString(1, cursor.txid());
        count.setLong(2, cursor.id());
        try (ResultSet rs = count.executeQuery()) {
          rs.next();
          return rs.getLong(1);
        }
      }
    });
  }

  /**
   * Moves the exporter's cursor to {@code row}, delivered.
   *
   * @throws StoreException also when the cursor is gone (removed while the exporter ran): the
   *     exporter reports it, and its next pass starts again from the oldest row the outbox holds
   */
  public void advance(String exporter, Row row) {
    int moved = update(ADVANCE, statement -> {
      statement.setString(1, row.txid());
      statement.setLong(2, row.id());
      statement.setTimestamp(3, Timestamp.from(clock.instant()));
      statement.setString(4, exporter);
    });
    if (moved == 0) {
      throw new StoreException("the cursor of exporter " + exporter + " was removed while it"
          + " ran; it starts again from the oldest row the outbox holds");
    }
  }

  /** Creates the exporter's cursor at the start of the outbox if it has none. */
  public void ensureCursor(String exporter) {
    update(ENSURE_CURSOR, statement -> {
      statement.setString(1, exporter);
      statement.setTimestamp(2, Timestamp.from(clock.instant()));
    });
  }

  /** Pauses or resumes the exporter; its cursor stays where it is. */
  public boolean setPaused(String exporter, boolean paused) {
    return update(SET_PAUSED, statement -> {
      statement.setBoolean(1, paused);
      statement.setTimestamp(2, Timestamp.from(clock.instant()));
      statement.setString(3, exporter);
    }) > 0;
  }

  /** What {@link #removeCursor} did. */
  public enum Removal {
    /** The cursor is gone: the rows only it held back can be deleted. */
    REMOVED,
    /** Some node marked it within {@link #REMOVABLE_AFTER}: an exporter still runs; kept. */
    ACTIVE,
    /** There is no cursor of that name. */
    UNKNOWN
  }

  /**
   * Forgets the cursor of an exporter taken out of every node's configuration, so that the
   * rows only it had not delivered can be deleted. A cursor some node has marked within {@link
   * #REMOVABLE_AFTER} (a delivery, a pause, an error, or the once-a-minute {@link #touch} of a
   * running exporter) is kept: removing a running exporter's cursor would let the other
   * exporters' trimming delete rows it has not delivered.
   */
  public Removal removeCursor(String exporter) {
    return gated(() -> {
      try (Connection connection = pool.getConnection()) {
        try (PreparedStatement remove = connection.prepareStatement(REMOVE_CURSOR)) {
          remove.setString(1, exporter);
          remove.setTimestamp(2, Timestamp.from(clock.instant().minus(REMOVABLE_AFTER)));
          if (remove.executeUpdate() > 0) {
            return Removal.REMOVED;
          }
        }
        try (PreparedStatement read = connection.prepareStatement(READ_CURSOR)) {
          read.setString(1, exporter);
          try (ResultSet rs = read.executeQuery()) {
            return rs.next() ? Removal.ACTIVE : Removal.UNKNOWN;
          }
        }
      }
    });
  }

  /** Marks the exporter's cursor as in use (a running exporter, once per {@link #TOUCH_EVERY}). */
  public void touch(String exporter) {
    update(TOUCH_CURSOR, statement -> {
      statement.setTimestamp(1, Timestamp.from(clock.instant()));
      statement.setString(2, exporter);
    });
  }

  /** Records the exporter's last failure, for the API and the CLI. */
  public void recordError(String exporter, String error) {
    update(RECORD_ERROR, statement -> {
      statement.setString(1, error.length() > 500 ? error.substring(0, 500) : error);
      statement.setTimestamp(2, Timestamp.from(clock.instant()));
      statement.setString(3, exporter);
    });
  }

  /** Deletes up to {@code limit} rows every exporter has delivered; returns how many. */
  public int deleteExported(int limit) {
    return update(DELETE_EXPORTED, statement -> statement.setInt(1, limit));
  }

  private interface Binder {
    void bind(PreparedStatement statement) throws SQLException;
  }

  private int update(String sql, Binder binder) {
    return gated(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(sql)) {
        binder.bind(statement);
        return statement.executeUpdate();
      }
    });
  }
}
