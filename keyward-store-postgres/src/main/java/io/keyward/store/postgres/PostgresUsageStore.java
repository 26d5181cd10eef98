package io.keyward.store.postgres;

import io.keyward.store.StoreException;
import io.keyward.usage.Granularity;
import io.keyward.usage.UsageBatch;
import io.keyward.verify.Outcome;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Usage counts in PostgreSQL (migration V7): batches of per-minute counts written idempotently,
 * with their hour and day rollups, last-used times and drop counts in the same transaction; the
 * queries of the usage API; retention; and the outbox the exporters read in commit order.
 *
 * <p>Every statement goes through the schema gate {@code usage}: before V7 is visible, a flush
 * is refused (the batch stays with its node and is retried) and a query answers nothing.
 */
public final class PostgresUsageStore {
  static final String PROBE = "SELECT m.key_id, m.bucket, m.outcome, m.owner_id, m.count,"
      + " l.last_used_at, b.seq, d.dropped, o.txid, o.part, o.payload, c.exporter, c.paused"
      + " FROM keyward_usage_minute m, keyward_usage_hour h, keyward_usage_day y,"
      + " keyward_key_last_used l, keyward_usage_batches b, keyward_usage_drops d,"
      + " keyward_usage_outbox o, keyward_usage_cursors c, keyward_usage_rollup r WHERE false";
  /** The watermark, read (and held) by a flush: minutes before it are rolled up already. */
  static final String READ_WATERMARK = "SELECT rolled_to FROM keyward_usage_rollup WHERE id = 1"
      + " FOR SHARE";
  /** The watermark, taken by the node that rolls up; another node skips its turn. */
  static final String LOCK_WATERMARK = "SELECT rolled_to FROM keyward_usage_rollup WHERE id = 1"
      + " FOR UPDATE SKIP LOCKED";
  static final String MOVE_WATERMARK = "UPDATE keyward_usage_rollup SET rolled_to = ? WHERE id = 1";
  /** The watermark's row, written once (the first flush or rollup of the deployment). */
  static final String ENSURE_WATERMARK = "INSERT INTO keyward_usage_rollup (id, rolled_to)"
      + " VALUES (1, '1970-01-01T00:00:00Z') ON CONFLICT (id) DO NOTHING";
  static final String OLDEST_MINUTE = "SELECT min(bucket) FROM keyward_usage_minute";
  /** Most minutes one rollup transaction takes: a backlog is worked off in slices. */
  static final java.time.Duration ROLLUP_SLICE = java.time.Duration.ofMinutes(10);
  /** The rollup's own statement timeout (the pool's default is 3 s). */
  static final String ROLLUP_TIMEOUT = "SET LOCAL statement_timeout = '60s'";
  /**
   * Each rollup statement runs in this many parts, by a hash of the key id (a power of two), so
   * that the database works off a minute's rows in several smaller steps rather than one burst.
   */
  static final int ROLLUP_PARTS = 4;
  private static final String ROLL_UP = "INSERT INTO %s (key_id, bucket, outcome, owner_id, count)"
      + " SELECT key_id, date_trunc('%s', bucket, 'UTC'), outcome, min(owner_id), sum(count)"
      + " FROM keyward_usage_minute WHERE bucket >= ? AND bucket < ?"
      + " AND (hashtext(key_id) & " + (ROLLUP_PARTS - 1) + ") = ? GROUP BY 1, 2, 3"
      + " ON CONFLICT (key_id, bucket, outcome) DO UPDATE SET count = %s.count + EXCLUDED.count";
  static final String ROLL_UP_HOURS = ROLL_UP.formatted("keyward_usage_hour", "hour", "keyward_usage_hour");
  static final String ROLL_UP_DAYS = ROLL_UP.formatted("keyward_usage_day", "day", "keyward_usage_day");
  static final String RECORD_BATCH = "INSERT INTO keyward_usage_batches (node_id, seq, flushed_at)"
      + " VALUES (?, ?, ?) ON CONFLICT (node_id, seq) DO NOTHING";
  private static final String UPSERT_COUNTS = "INSERT INTO %s (key_id, bucket, outcome, owner_id,"
      + " count) SELECT k, to_timestamp(b), o, w, c FROM unnest(?::text[], ?::bigint[], ?::text[],"
      + " ?::text[], ?::bigint[]) AS t (k, b, o, w, c) ON CONFLICT (key_id, bucket, outcome)"
      + " DO UPDATE SET count = %s.count + EXCLUDED.count";
  static final String UPSERT_MINUTE = UPSERT_COUNTS.formatted("keyward_usage_minute", "keyward_usage_minute");
  static final String UPSERT_HOUR = UPSERT_COUNTS.formatted("keyward_usage_hour", "keyward_usage_hour");
  static final String UPSERT_DAY = UPSERT_COUNTS.formatted("keyward_usage_day", "keyward_usage_day");
  static final String UPSERT_LAST_USED = "INSERT INTO keyward_key_last_used (key_id, last_used_at)"
      + " SELECT k, to_timestamp(t / 1000.0) FROM unnest(?::text[], ?::bigint[]) AS u (k, t)"
      + " ON CONFLICT (key_id) DO UPDATE SET last_used_at ="
      + " GREATEST(keyward_key_last_used.last_used_at, EXCLUDED.last_used_at)";
  static final String UPSERT_DROPS = "INSERT INTO keyward_usage_drops (node_id, bucket, dropped)"
      + " SELECT ?, to_timestamp(b), d FROM unnest(?::bigint[], ?::bigint[]) AS u (b, d)"
      + " ON CONFLICT (node_id, bucket) DO UPDATE SET dropped = keyward_usage_drops.dropped"
      + " + EXCLUDED.dropped";
  /** Counts per outbox row (one message): about 13 KB of JSON. */
  public static final int COUNTS_PER_PART = 100;
  /**
   * The batch's counts as JSON, built by PostgreSQL from the same arrays, in parts of {@value
   * #COUNTS_PER_PART} counts: one outbox row each.
   */
  static final String INSERT_OUTBOX = "INSERT INTO keyward_usage_outbox (node_id, seq, part,"
      + " created_at, payload) SELECT ?, ?, (n - 1) / " + COUNTS_PER_PART + ", ?,"
      + " jsonb_build_object('counts', jsonb_agg(jsonb_build_object('keyId', k, 'ownerId', w,"
      + " 'outcome', o, 'minute', to_timestamp(b), 'count', c) ORDER BY n)) FROM unnest(?::text[],"
      + " ?::bigint[], ?::text[], ?::text[], ?::bigint[]) WITH ORDINALITY AS t (k, b, o, w, c, n)"
      + " GROUP BY (n - 1) / " + COUNTS_PER_PART + " ORDER BY (n - 1) / " + COUNTS_PER_PART;
  /** Verifications per outbox row when every verification is exported: about 15 KB of JSON. */
  public static final int EVENTS_PER_PART = 100;
  /**
   * The batch's verifications one by one (exporters of {@code events}), in parts of {@value
   * #EVENTS_PER_PART}, numbered after the counts' parts; each event's id is its part's id and its
   * place in the part ({@code <node>:<seq>:<part>:<index>}), the same on every retry.
   */
  static final String INSERT_OUTBOX_EVENTS = "INSERT INTO keyward_usage_outbox (node_id, seq,"
      + " part, created_at, payload) SELECT p.node, p.seq, p.first + (n - 1) / " + EVENTS_PER_PART
      + ", p.at, jsonb_build_object('events', jsonb_agg(jsonb_build_object('id', p.node || ':'"
      + " || p.seq || ':' || (p.first + (n - 1) / " + EVENTS_PER_PART + ") || ':' || ((n - 1) % "
      + EVENTS_PER_PART + "), 'keyId', k, 'ownerId', w, 'outcome', o, 'at', to_timestamp(t /"
      + " 1000.0)) ORDER BY n), 'eventsDropped', CASE WHEN (n - 1) / " + EVENTS_PER_PART
      + " = 0 THEN p.gap ELSE 0 END) FROM (SELECT ?::text AS node, ?::bigint AS seq, ?::integer"
      + " AS first, ?::timestamptz AS at, ?::bigint AS gap) AS p, unnest(?::text[], ?::text[],"
      + " ?::text[], ?::bigint[]) WITH ORDINALITY AS e (k, w, o, t, n) GROUP BY p.node, p.seq,"
      + " p.first, p.at, p.gap, (n - 1) / " + EVENTS_PER_PART + " ORDER BY (n - 1) / "
      + EVENTS_PER_PART;
  /** A batch with no events but an events gap (the events were full): the gap alone. */
  static final String INSERT_OUTBOX_EVENTS_GAP = "INSERT INTO keyward_usage_outbox (node_id, seq,"
      + " part, created_at, payload) VALUES (?, ?, ?, ?, jsonb_build_object('events',"
      + " '[]'::jsonb, 'eventsDropped', ?::bigint))";
  private static final String SELECT_BUCKETS = "SELECT bucket, outcome, count FROM %s"
      + " WHERE %s = ? AND bucket >= ? AND bucket < ? ORDER BY bucket, outcome";
  /**
   * Hours or days: the rolled-up rows, plus the minutes from the watermark on (not rolled up
   * yet), summed per bucket.
   */
  private static final String SELECT_ROLLED_BUCKETS = "SELECT b, outcome, sum(c) FROM ("
      + "SELECT bucket AS b, outcome, count AS c FROM %1$s WHERE %2$s = ? AND bucket >= ?"
      + " AND bucket < ? UNION ALL SELECT date_trunc('%3$s', bucket, 'UTC'), outcome, count"
      + " FROM keyward_usage_minute WHERE %2$s = ? AND bucket >= GREATEST(?, (SELECT rolled_to"
      + " FROM keyward_usage_rollup WHERE id = 1)) AND bucket < ?) AS u GROUP BY b, outcome"
      + " ORDER BY b, outcome";
  static final String KEY_MINUTES = SELECT_BUCKETS.formatted("keyward_usage_minute", "key_id");
  static final String KEY_HOURS = SELECT_ROLLED_BUCKETS.formatted("keyward_usage_hour", "key_id", "hour");
  static final String KEY_DAYS = SELECT_ROLLED_BUCKETS.formatted("keyward_usage_day", "key_id", "day");
  static final String OWNER_MINUTES = "SELECT bucket, outcome, sum(count) FROM keyward_usage_minute"
      + " WHERE owner_id = ? AND bucket >= ? AND bucket < ? GROUP BY bucket, outcome"
      + " ORDER BY bucket, outcome";
  static final String OWNER_HOURS = SELECT_ROLLED_BUCKETS.formatted("keyward_usage_hour", "owner_id", "hour");
  static final String OWNER_DAYS = SELECT_ROLLED_BUCKETS.formatted("keyward_usage_day", "owner_id", "day");
  static final String LAST_USED = "SELECT last_used_at FROM keyward_key_last_used WHERE key_id = ?";
  static final String OWNER_LAST_USED = "SELECT max(l.last_used_at) FROM keyward_key_last_used l"
      + " JOIN api_keys k ON k.key_id = l.key_id WHERE k.owner_id = ?";
  static final String DROPPED_BETWEEN = "SELECT COALESCE(sum(dropped), 0) FROM keyward_usage_drops"
      + " WHERE bucket >= ? AND bucket < ?";
  private static final String DELETE_OLDER = "DELETE FROM %s WHERE ctid = ANY (ARRAY ("
      + "SELECT ctid FROM %s WHERE %s < ? LIMIT ?))";
  /** Minutes are deleted only once rolled up, however old. */
  static final String DELETE_MINUTES = "DELETE FROM keyward_usage_minute WHERE ctid = ANY (ARRAY ("
      + "SELECT ctid FROM keyward_usage_minute WHERE bucket < ? AND bucket < (SELECT rolled_to"
      + " FROM keyward_usage_rollup WHERE id = 1) LIMIT ?))";
  static final String DELETE_HOURS = DELETE_OLDER.formatted("keyward_usage_hour", "keyward_usage_hour", "bucket");
  static final String DELETE_DAYS = DELETE_OLDER.formatted("keyward_usage_day", "keyward_usage_day", "bucket");
  static final String DELETE_BATCHES = DELETE_OLDER.formatted("keyward_usage_batches", "keyward_usage_batches", "flushed_at");
  static final String DELETE_DROPS = DELETE_OLDER.formatted("keyward_usage_drops", "keyward_usage_drops", "bucket");
  static final String DELETE_OUTBOX = DELETE_OLDER.formatted("keyward_usage_outbox", "keyward_usage_outbox", "created_at");
  /** Event rows (one per verification) are kept for a shorter time than counts: see Retained. */
  static final String DELETE_OUTBOX_EVENTS = "DELETE FROM keyward_usage_outbox WHERE ctid = ANY"
      + " (ARRAY (SELECT ctid FROM keyward_usage_outbox WHERE created_at < ? AND payload ->"
      + " 'events' IS NOT NULL LIMIT ?))";

  /** Every statement of this store, for the query contract. */
  public static final List<String> QUERY_CONTRACT = List.of(PROBE, RECORD_BATCH, UPSERT_MINUTE,
      UPSERT_HOUR, UPSERT_DAY, READ_WATERMARK, LOCK_WATERMARK, MOVE_WATERMARK, ENSURE_WATERMARK,
      ROLLUP_TIMEOUT, OLDEST_MINUTE, ROLL_UP_HOURS,
      ROLL_UP_DAYS, UPSERT_LAST_USED, UPSERT_DROPS, INSERT_OUTBOX, INSERT_OUTBOX_EVENTS,
      INSERT_OUTBOX_EVENTS_GAP, KEY_MINUTES,
      KEY_HOURS, KEY_DAYS, OWNER_MINUTES, OWNER_HOURS, OWNER_DAYS, LAST_USED, OWNER_LAST_USED,
      DROPPED_BETWEEN, DELETE_MINUTES, DELETE_HOURS, DELETE_DAYS, DELETE_BATCHES, DELETE_DROPS,
      DELETE_OUTBOX, DELETE_OUTBOX_EVENTS);

  private final DataSource pool;
  private final SchemaGate gate;
  private volatile boolean watermarkEnsured;

  public PostgresUsageStore(DataSource pool, Clock clock, MeterRegistry registry) {
    this.pool = pool;
    this.gate = new SchemaGate("usage", PROBE, pool, clock, Duration.ofSeconds(5), registry);
    gate.checkNow();
  }

  /** The gate the store goes through (for readiness and metrics). */
  public SchemaGate gate() {
    return gate;
  }

  /** Flushed, already flushed (a retry of a batch that had committed), or not flushed. */
  public enum Flushed { WRITTEN, ALREADY_WRITTEN }

  /**
   * Writes one node's batch in one transaction: its number first, so that a retry of a batch
   * whose commit the node did not hear of writes nothing twice.
   *
   * @param countsToOutbox also put the batch's counts in the outbox (some exporter sends counts);
   *     its events, if it carries any (some exporter sends events), go there in any case
   * @throws StoreException when it is not written (the database failing, or V7 not visible yet):
   *     the caller keeps the batch and retries it with the same number
   */
  public Flushed flush(String nodeId, long seq, UsageBatch batch, boolean countsToOutbox,
      Instant now) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection()) {
        ensureWatermark(connection);
        return Transactions.run(connection,
            c -> flush(c, nodeId, seq, batch, countsToOutbox, now));
      }
    }, () -> {
      throw new StoreException("usage tables are not visible yet (schema gate usage closed: "
          + gate.closedBecause() + ")");
    });
  }

  private Flushed flush(Connection connection, String nodeId, long seq, UsageBatch batch,
      boolean countsToOutbox, Instant now) throws SQLException {
    try (PreparedStatement record = connection.prepareStatement(RECORD_BATCH)) {
      record.setString(1, nodeId);
      record.setLong(2, seq);
      record.setTimestamp(3, Timestamp.from(now));
      if (record.executeUpdate() == 0) {
        return Flushed.ALREADY_WRITTEN;
      }
    }
    if (!batch.counts().isEmpty()) {
      upsertCounts(connection, UPSERT_MINUTE, batch.counts(), Granularity.MINUTE);
      // Minutes the rollup has passed already (a batch retried after an outage): their hours and
      // days get them here. The watermark is held (FOR SHARE) until this commits, so a rollup
      // cannot pass these minutes in between.
      long rolledTo;
      try (PreparedStatement watermark = connection.prepareStatement(READ_WATERMARK);
          ResultSet rs = watermark.executeQuery()) {
        rolledTo = rs.next() ? rs.getTimestamp(1).getTime() : Long.MIN_VALUE;
      }
      List<UsageBatch.Count> late = batch.counts().stream()
          .filter(count -> count.minuteMillis() < rolledTo).toList();
      if (!late.isEmpty()) {
        upsertCounts(connection, UPSERT_HOUR, late, Granularity.HOUR);
        upsertCounts(connection, UPSERT_DAY, late, Granularity.DAY);
      }
    }
    if (!batch.lastUsedMillis().isEmpty()) {
      String[] keys = batch.lastUsedMillis().keySet().toArray(String[]::new);
      Long[] times = new Long[keys.length];
      for (int i = 0; i < keys.length; i++) {
        times[i] = batch.lastUsedMillis().get(keys[i]);
      }
      try (PreparedStatement last = connection.prepareStatement(UPSERT_LAST_USED)) {
        last.setArray(1, connection.createArrayOf("text", keys));
        last.setArray(2, connection.createArrayOf("bigint", times));
        last.executeUpdate();
      }
    }
    int countParts = 0;
    if (!batch.counts().isEmpty() && countsToOutbox) {
      try (PreparedStatement outbox = connection.prepareStatement(INSERT_OUTBOX)) {
        outbox.setString(1, nodeId);
        outbox.setLong(2, seq);
        outbox.setTimestamp(3, Timestamp.from(now));
        setCountArrays(connection, outbox, 4, batch.counts(), Granularity.MINUTE);
        countParts = outbox.executeUpdate();
      }
    }
    if (!batch.events().isEmpty() || batch.eventsDropped() > 0) {
      insertEvents(connection, nodeId, seq, countParts, batch.events(), batch.eventsDropped(),
          now);
    }
    if (!batch.drops().isEmpty()) {
      Long[] minutes = new Long[batch.drops().size()];
      Long[] dropped = new Long[minutes.length];
      for (int i = 0; i < minutes.length; i++) {
        minutes[i] = batch.drops().get(i).minuteMillis() / 1000;
        dropped[i] = batch.drops().get(i).dropped();
      }
      try (PreparedStatement drops = connection.prepareStatement(UPSERT_DROPS)) {
        drops.setString(1, nodeId);
        drops.setArray(2, connection.createArrayOf("bigint", minutes));
        drops.setArray(3, connection.createArrayOf("bigint", dropped));
        drops.executeUpdate();
      }
    }
    return Flushed.WRITTEN;
  }

  private static void insertEvents(Connection connection, String nodeId, long seq, int firstPart,
      List<io.keyward.verify.UsageSink.UsageEvent> events, long eventsDropped, Instant now)
      throws SQLException {
    if (events.isEmpty()) {
      try (PreparedStatement gap = connection.prepareStatement(INSERT_OUTBOX_EVENTS_GAP)) {
        gap.setString(1, nodeId);
        gap.setLong(2, seq);
        gap.setInt(3, firstPart);
        gap.setTimestamp(4, Timestamp.from(now));
        gap.setLong(5, eventsDropped);
        gap.executeUpdate();
      }
      return;
    }
    int n = events.size();
    String[] keys = new String[n];
    String[] owners = new String[n];
    String[] outcomes = new String[n];
    Long[] times = new Long[n];
    for (int i = 0; i < n; i++) {
      io.keyward.verify.UsageSink.UsageEvent event = events.get(i);
      keys[i] = event.keyId();
      owners[i] = event.ownerId();
      outcomes[i] = event.outcome().name();
      times[i] = event.atEpochMillis();
    }
    try (PreparedStatement outbox = connection.prepareStatement(INSERT_OUTBOX_EVENTS)) {
      outbox.setString(1, nodeId);
      outbox.setLong(2, seq);
      outbox.setInt(3, firstPart);
      outbox.setTimestamp(4, Timestamp.from(now));
      outbox.setLong(5, eventsDropped);
      outbox.setArray(6, connection.createArrayOf("text", keys));
      outbox.setArray(7, connection.createArrayOf("text", owners));
      outbox.setArray(8, connection.createArrayOf("text", outcomes));
      outbox.setArray(9, connection.createArrayOf("bigint", times));
      outbox.executeUpdate();
    }
  }

  private static final java.util.Comparator<UsageBatch.Count> COUNT_ORDER =
      java.util.Comparator.comparing(UsageBatch.Count::keyId)
          .thenComparingLong(UsageBatch.Count::minuteMillis)
          .thenComparing(count -> count.outcome().name());

  /** Upserts the counts rolled up to {@code granularity} (one row per key, bucket, outcome). */
  private static void upsertCounts(Connection connection, String sql, List<UsageBatch.Count> counts,
      Granularity granularity) throws SQLException {
    try (PreparedStatement upsert = connection.prepareStatement(sql)) {
      setCountArrays(connection, upsert, 1, counts, granularity);
      upsert.executeUpdate();
    }
  }

  /** Five arrays (key, bucket seconds, outcome, owner, count), merged per bucket of the width. */
  private static void setCountArrays(Connection connection, PreparedStatement statement, int first,
      List<UsageBatch.Count> counts, Granularity granularity) throws SQLException {
    if (granularity == Granularity.MINUTE) {
      // A batch holds one count per key, outcome and minute already: nothing to merge. Sorted,
      // so that every node takes the row locks in one order (no deadlock between two flushes).
      counts = new java.util.ArrayList<>(counts);
      counts.sort(COUNT_ORDER);
      int n = counts.size();
      String[] keys = new String[n];
      Long[] buckets = new Long[n];
      String[] outcomes = new String[n];
      String[] ownerIds = new String[n];
      Long[] values = new Long[n];
      for (int i = 0; i < n; i++) {
        UsageBatch.Count count = counts.get(i);
        keys[i] = count.keyId();
        buckets[i] = count.minuteMillis() / 1000;
        outcomes[i] = count.outcome().name();
        ownerIds[i] = count.ownerId();
        values[i] = count.count();
      }
      setArrays(connection, statement, first, keys, buckets, outcomes, ownerIds, values);
      return;
    }
    record Row(String keyId, long bucket, Outcome outcome) {}
    java.util.Comparator<Row> order = java.util.Comparator.comparing(Row::keyId)
        .thenComparingLong(Row::bucket).thenComparing(row -> row.outcome().name());
    Map<Row, long[]> merged = new java.util.TreeMap<>(order); // one lock order on every node
    Map<Row, String> owners = new java.util.HashMap<>();
    for (UsageBatch.Count count : counts) {
      Row row = new Row(count.keyId(), granularity.bucketOf(count.minuteMillis()), count.outcome());
      merged.computeIfAbsent(row, r -> new long[1])[0] += count.count();
      owners.putIfAbsent(row, count.ownerId());
    }
    int n = merged.size();
    String[] keys = new String[n];
    Long[] buckets = new Long[n];
    String[] outcomes = new String[n];
    String[] ownerIds = new String[n];
    Long[] values = new Long[n];
    int i = 0;
    for (Map.Entry<Row, long[]> entry : merged.entrySet()) {
      keys[i] = entry.getKey().keyId();
      buckets[i] = entry.getKey().bucket() / 1000;
      outcomes[i] = entry.getKey().outcome().name();
      ownerIds[i] = owners.get(entry.getKey());
      values[i] = entry.getValue()[0];
      i++;
    }
    setArrays(connection, statement, first, keys, buckets, outcomes, ownerIds, values);
  }

  private static void setArrays(Connection connection, PreparedStatement statement, int first,
      String[] keys, Long[] buckets, String[] outcomes, String[] ownerIds, Long[] values)
      throws SQLException {
    statement.setArray(first, connection.createArrayOf("text", keys));
    statement.setArray(first + 1, connection.createArrayOf("bigint", buckets));
    statement.setArray(first + 2, connection.createArrayOf("text", outcomes));
    statement.setArray(first + 3, connection.createArrayOf("text", ownerIds));
    statement.setArray(first + 4, connection.createArrayOf("bigint", values));
  }

  /**
   * Writes the watermark's row if it is not there yet, in a statement of its own, before any
   * flush or rollup reads it: a flush that found no row could not hold it against a rollup.
   */
  private void ensureWatermark(Connection connection) throws SQLException {
    if (!watermarkEnsured) {
      try (PreparedStatement ensure = connection.prepareStatement(ENSURE_WATERMARK)) {
        ensure.executeUpdate();
      }
      watermarkEnsured = true;
    }
  }

  /**
   * Rolls the minutes from the watermark up to {@code upTo} into hours and days and moves the
   * watermark, in slices of at most {@link #ROLLUP_SLICE}, each one transaction (a backlog after
   * an outage is worked off a slice at a time, never one statement too long for its timeout); a
   * node that finds the watermark taken by another skips.
   *
   * @return how many minute rows were rolled up, or -1 if another node holds the watermark
   */
  public long rollUp(Instant upTo) {
    return rollUp(upTo, java.time.Duration.ZERO);
  }

  /**
   * {@link #rollUp(Instant)} with a pause between the parts of each slice (inside its
   * transaction), so that the rollup is a trickle beside live traffic, not a burst.
   */
  public long rollUp(Instant upTo, java.time.Duration pauseBetweenParts) {
    long total = 0;
    while (true) {
      long[] slice = rollUpSlice(upTo, pauseBetweenParts);
      if (slice[0] < 0) {
        return total == 0 ? -1 : total;
      }
      total += slice[0];
      if (slice[1] == 0) {
        return total;
      }
    }
  }

  /** One slice: {rows rolled up or -1, 1 if more remain before {@code upTo} else 0}. */
  private long[] rollUpSlice(Instant upTo, java.time.Duration pause) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection()) {
        ensureWatermark(connection);
        return Transactions.run(connection, c -> rollUpSlice(c, upTo, pause));
      }
    }, () -> new long[] {-1, 0});
  }

  /** One slice, in the caller's transaction. */
  private long[] rollUpSlice(Connection connection, Instant upTo, java.time.Duration pause)
      throws SQLException {
    try (PreparedStatement timeout = connection.prepareStatement(ROLLUP_TIMEOUT)) {
      timeout.execute();
    }
    Timestamp from;
    try (PreparedStatement lock = connection.prepareStatement(LOCK_WATERMARK);
        ResultSet rs = lock.executeQuery()) {
      if (!rs.next()) {
        connection.rollback();
        return new long[] {-1, 0};
      }
      from = rs.getTimestamp(1);
    }
    if (from.toInstant().equals(Instant.EPOCH)) {
      // The first rollup of a deployment: from the oldest minute, not from 1970.
      try (PreparedStatement oldest = connection.prepareStatement(OLDEST_MINUTE);
          ResultSet rs = oldest.executeQuery()) {
        Timestamp oldestMinute = rs.next() ? rs.getTimestamp(1) : null;
        // No minute yet: nothing to roll up; the watermark stays where it is.
        from = oldestMinute != null ? oldestMinute : Timestamp.from(upTo);
      }
    }
    Instant sliceEnd = from.toInstant().plus(ROLLUP_SLICE);
    boolean more = sliceEnd.isBefore(upTo);
    Timestamp to = Timestamp.from(more ? sliceEnd : upTo);
    if (!to.after(from)) {
      connection.rollback();
      return new long[] {0, 0};
    }
    long rows = 0;
    boolean first = true;
    for (String sql : List.of(ROLL_UP_HOURS, ROLL_UP_DAYS)) {
      long rolled = 0;
      try (PreparedStatement roll = connection.prepareStatement(sql)) {
        for (int part = 0; part < ROLLUP_PARTS; part++) {
          if (!first && !pause.isZero()) {
            java.util.concurrent.locks.LockSupport.parkNanos(pause.toNanos());
          }
          first = false;
          roll.setTimestamp(1, from);
          roll.setTimestamp(2, to);
          roll.setInt(3, part);
          rolled += roll.executeUpdate();
        }
      }
      rows = Math.max(rows, rolled);
    }
    try (PreparedStatement move = connection.prepareStatement(MOVE_WATERMARK)) {
      move.setTimestamp(1, to);
      move.executeUpdate();
    }
    return new long[] {rows, more ? 1 : 0};
  }

  /** One bucket of a usage answer: its start and its counts by outcome. */
  public record Bucket(Instant start, Map<Outcome, Long> counts) {}

  /** A key's (or an owner's) usage over [from, to): its buckets, in order; empty ones left out. */
  public List<Bucket> usageOfKey(String keyId, Granularity granularity, Instant from, Instant to) {
    String sql = switch (granularity) {
      case MINUTE -> KEY_MINUTES;
      case HOUR -> KEY_HOURS;
      case DAY -> KEY_DAYS;
    };
    return buckets(sql, keyId, from, to);
  }

  /** The usage of every key of {@code ownerId}, summed per bucket. */
  public List<Bucket> usageOfOwner(String ownerId, Granularity granularity, Instant from,
      Instant to) {
    String sql = switch (granularity) {
      case MINUTE -> OWNER_MINUTES;
      case HOUR -> OWNER_HOURS;
      case DAY -> OWNER_DAYS;
    };
    return buckets(sql, ownerId, from, to);
  }

  private List<Bucket> buckets(String sql, String id, Instant from, Instant to) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(sql)) {
        statement.setString(1, id);
        statement.setTimestamp(2, Timestamp.from(from));
        statement.setTimestamp(3, Timestamp.from(to));
        if (sql != KEY_MINUTES && sql != OWNER_MINUTES) { // rolled-up rows plus recent minutes
          statement.setString(4, id);
          statement.setTimestamp(5, Timestamp.from(from));
          statement.setTimestamp(6, Timestamp.from(to));
        }
        List<Bucket> buckets = new ArrayList<>();
        Instant current = null;
        Map<Outcome, Long> counts = null;
        try (ResultSet rs = statement.executeQuery()) {
          while (rs.next()) {
            Instant start = rs.getTimestamp(1).toInstant();
            if (!start.equals(current)) {
              if (current != null) {
                buckets.add(new Bucket(current, counts));
              }
              current = start;
              counts = new EnumMap<>(Outcome.class);
            }
            Outcome outcome = outcomeOf(rs.getString(2));
            if (outcome != null) {
              counts.merge(outcome, rs.getLong(3), Long::sum);
            }
          }
        }
        if (current != null) {
          buckets.add(new Bucket(current, counts));
        }
        return buckets;
      }
    }, List::of);
  }

  /** An outcome a newer release wrote that this one does not know is left out, not an error. */
  private static @Nullable Outcome outcomeOf(String name) {
    try {
      return Outcome.valueOf(name);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** When the key was last verified, as of the last flush of every node. */
  public Optional<Instant> lastUsed(String keyId) {
    return instant(LAST_USED, keyId);
  }

  /** When any key of the owner was last verified. */
  public Optional<Instant> ownerLastUsed(String ownerId) {
    return instant(OWNER_LAST_USED, ownerId);
  }

  private Optional<Instant> instant(String sql, String id) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(sql)) {
        statement.setString(1, id);
        try (ResultSet rs = statement.executeQuery()) {
          Timestamp at = rs.next() ? rs.getTimestamp(1) : null;
          return Optional.ofNullable(at).map(Timestamp::toInstant);
        }
      }
    }, Optional::empty);
  }

  /** Verifications no node counted (buffers full) in [from, to), to the minute. */
  public long droppedBetween(Instant from, Instant to) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(DROPPED_BETWEEN)) {
        statement.setTimestamp(1, Timestamp.from(from));
        statement.setTimestamp(2, Timestamp.from(to));
        try (ResultSet rs = statement.executeQuery()) {
          rs.next();
          return rs.getLong(1);
        }
      }
    }, () -> 0L);
  }

  /** The tables retention deletes from, oldest first. */
  public enum Retained {
    MINUTES(DELETE_MINUTES), HOURS(DELETE_HOURS), DAYS(DELETE_DAYS), BATCHES(DELETE_BATCHES),
    DROPS(DELETE_DROPS), OUTBOX(DELETE_OUTBOX),
    /**
     * Event rows an exporter has not taken: they grow with traffic (about 150 bytes per
     * verification, in the keys' database), so they are kept a day at most, whatever the
     * cursors (an events exporter down for longer loses the older ones).
     */
    OUTBOX_EVENTS(DELETE_OUTBOX_EVENTS);

    private final String sql;

    Retained(String sql) {
      this.sql = sql;
    }
  }

  /**
   * Deletes at most {@code limit} rows of {@code table} older than {@code before}, in one short
   * transaction of its own (row locks on those rows only).
   *
   * @return how many were deleted; fewer than {@code limit} means none older is left
   */
  public int deleteOlderThan(Retained table, Instant before, int limit) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(table.sql)) {
        statement.setTimestamp(1, Timestamp.from(before));
        statement.setInt(2, limit);
        return statement.executeUpdate();
      }
    }, () -> 0);
  }
}
