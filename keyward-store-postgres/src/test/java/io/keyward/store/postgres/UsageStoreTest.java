package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.store.StoreException;
import io.keyward.usage.Granularity;
import io.keyward.usage.UsageBatch;
import io.keyward.usage.UsageExport;
import io.keyward.verify.UsageSink;
import io.keyward.verify.Outcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Usage counts and the exporters' outbox on the real PostgreSQL. */
class UsageStoreTest {
  private static final Instant T0 = Instant.parse("2026-11-30T10:00:00Z");
  private static final long M0 = T0.toEpochMilli();

  private final TestDatabase database = TestDatabase.createMigrated();
  private final PostgresUsageStore store =
      new PostgresUsageStore(database.pool(), Clock.systemUTC(), new SimpleMeterRegistry());
  private final UsageOutbox outbox = new UsageOutbox(database.pool(), store.gate(), Clock.systemUTC());

  @AfterEach
  void close() {
    database.close();
  }

  private static UsageBatch batch(UsageBatch.Count... counts) {
    Map<String, Long> last = new java.util.HashMap<>();
    for (UsageBatch.Count c : counts) {
      last.merge(c.keyId(), c.minuteMillis() + 30_000, Math::max);
    }
    return new UsageBatch(List.of(counts), last, List.of());
  }

  private static UsageBatch.Count count(String key, Outcome outcome, long minuteMillis, long n) {
    return new UsageBatch.Count(key, "owner_1", outcome, minuteMillis, n);
  }

  private long total(Granularity granularity, String key, Outcome outcome) {
    return store.usageOfKey(key, granularity, T0.minusSeconds(86_400 * 2), T0.plusSeconds(86_400 * 2))
        .stream().mapToLong(b -> b.counts().getOrDefault(outcome, 0L)).sum();
  }

  @Test
  void aBatchRetriedUnderItsNumberIsCountedOnce() {
    UsageBatch batch = batch(count("key_a", Outcome.VALID, M0, 5));
    assertThat(store.flush("node_1", 1, batch, false, T0)).isEqualTo(PostgresUsageStore.Flushed.WRITTEN);
    // The node did not hear of the commit and retries: nothing is counted twice.
    assertThat(store.flush("node_1", 1, batch, false, T0))
        .isEqualTo(PostgresUsageStore.Flushed.ALREADY_WRITTEN);
    // Another node's batch 1 is its own.
    store.flush("node_2", 1, batch, false, T0);

    assertThat(total(Granularity.MINUTE, "key_a", Outcome.VALID)).isEqualTo(10);
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(10);
    assertThat(total(Granularity.DAY, "key_a", Outcome.VALID)).isEqualTo(10);
  }

  @Test
  void minutesRollUpIntoTheirHourAndDayAndOwnersSumTheirKeys() {
    store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 3),
        count("key_a", Outcome.VALID, M0 + 60_000, 4), count("key_a", Outcome.NOT_FOUND, M0, 1),
        count("key_b", Outcome.VALID, M0 + 3_600_000, 2)), false, T0);

    List<PostgresUsageStore.Bucket> hours = store.usageOfKey("key_a", Granularity.HOUR,
        T0, T0.plusSeconds(7_200));
    assertThat(hours).singleElement().satisfies(b -> {
      assertThat(b.start()).isEqualTo(T0);
      assertThat(b.counts()).containsEntry(Outcome.VALID, 7L).containsEntry(Outcome.NOT_FOUND, 1L);
    });
    List<PostgresUsageStore.Bucket> owner = store.usageOfOwner("owner_1", Granularity.HOUR, T0,
        T0.plusSeconds(7_200));
    assertThat(owner).extracting(b -> b.counts().get(Outcome.VALID)).containsExactly(7L, 2L);
    assertThat(store.lastUsed("key_a")).contains(T0.plusSeconds(90));
  }

  @Test
  void hoursAndDaysAreRolledUpOnceAndALateBatchAddsToThemItself() {
    store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 3),
        count("key_a", Outcome.VALID, M0 + 60_000, 4)), false, T0);
    // Before any rollup the hour comes from the minutes; after it, from the hour row: the same.
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(7);
    assertThat(store.rollUp(T0.plusSeconds(120))).isEqualTo(1);
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(7);
    assertThat(total(Granularity.DAY, "key_a", Outcome.VALID)).isEqualTo(7);
    assertThat(store.rollUp(T0.plusSeconds(120))).isZero(); // nothing new: not counted twice
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(7);
    assertThat(database.queryForString("SELECT count FROM keyward_usage_hour WHERE key_id ="
        + " 'key_a'")).isEqualTo("7");

    // A batch for a minute the rollup has passed (retried after an outage), and a current one.
    store.flush("node_2", 1, batch(count("key_a", Outcome.VALID, M0 + 60_000, 10),
        count("key_a", Outcome.VALID, M0 + 180_000, 100)), false, T0);
    assertThat(total(Granularity.MINUTE, "key_a", Outcome.VALID)).isEqualTo(117);
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(117);
    assertThat(total(Granularity.DAY, "key_a", Outcome.VALID)).isEqualTo(117);
    store.rollUp(T0.plusSeconds(3_600));
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(117);
    assertThat(database.queryForString("SELECT count FROM keyward_usage_hour WHERE key_id ="
        + " 'key_a'")).isEqualTo("117");
  }

  @Test
  void aNodeFindingTheWatermarkTakenSkipsItsRollupAndMinutesAreKeptUntilRolledUp()
      throws Exception {
    store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 3)), false, T0);
    try (Connection other = database.pool().getConnection()) {
      other.setAutoCommit(false);
      try (PreparedStatement lock = other.prepareStatement(
          "SELECT rolled_to FROM keyward_usage_rollup WHERE id = 1 FOR UPDATE")) {
        lock.executeQuery().close();
      }
      assertThat(store.rollUp(T0.plusSeconds(120))).isEqualTo(-1);
      other.rollback();
    }
    // Old, but not rolled up yet: retention leaves it.
    assertThat(store.deleteOlderThan(PostgresUsageStore.Retained.MINUTES, T0.plusSeconds(86_400),
        100)).isZero();
    store.rollUp(T0.plusSeconds(120));
    assertThat(store.deleteOlderThan(PostgresUsageStore.Retained.MINUTES, T0.plusSeconds(86_400),
        100)).isEqualTo(1);
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(3);
  }

  @Test
  void aBacklogOfMinutesIsRolledUpInSlicesAndEveryCountLandsOnce() {
    List<UsageBatch.Count> counts = new ArrayList<>();
    for (int minute = 0; minute < 45; minute++) {
      counts.add(count("key_a", Outcome.VALID, M0 + minute * 60_000L, 1));
    }
    store.flush("node_1", 1, batch(counts.toArray(UsageBatch.Count[]::new)), false, T0);
    store.rollUp(T0.plusSeconds(45 * 60));
    assertThat(database.queryForString("SELECT rolled_to = '" + T0.plusSeconds(45 * 60)
        + "'::timestamptz FROM keyward_usage_rollup")).isEqualTo("t");
    assertThat(database.queryForString("SELECT sum(count) FROM keyward_usage_hour WHERE key_id ="
        + " 'key_a'")).isEqualTo("45");
    assertThat(total(Granularity.HOUR, "key_a", Outcome.VALID)).isEqualTo(45);
    assertThat(total(Granularity.DAY, "key_a", Outcome.VALID)).isEqualTo(45);
  }

  @Test
  void aCursorAheadOfTheDatabasesTransactionsIsAnErrorNotASilentWait() {
    outbox.cursor("restored");
    database.execute("UPDATE keyward_usage_cursors SET txid = '999999999999'::xid8"
        + " WHERE exporter = 'restored'");
    assertThatThrownBy(() -> outbox.after(outbox.cursor("restored"), 10))
        .isInstanceOf(StoreException.class).hasMessageContaining("restored from a dump");
  }

  @Test
  void withoutAnyCursorNothingIsDeletedFromTheOutbox() {
    store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 1)), true, T0);
    assertThat(outbox.deleteExported(100)).isZero();
    assertThat(outbox.after(outbox.cursor("late"), 10)).hasSize(1);
  }

  @Test
  void dropsAreWrittenSoAReportCanSayWhatItDoesNotCover() {
    store.flush("node_1", 1, new UsageBatch(List.of(), Map.of(),
        List.of(new UsageBatch.Drop(M0, 7))), false, T0);
    store.flush("node_2", 1, new UsageBatch(List.of(), Map.of(),
        List.of(new UsageBatch.Drop(M0, 3))), false, T0);
    assertThat(store.droppedBetween(T0, T0.plusSeconds(60))).isEqualTo(10);
    assertThat(store.droppedBetween(T0.plusSeconds(60), T0.plusSeconds(120))).isZero();
  }

  @Test
  void retentionDeletesInBatchesOnlyWhatIsOlder() {
    for (int i = 0; i < 25; i++) {
      store.flush("node_1", i + 1, batch(count("key_" + i, Outcome.VALID, M0, 1)), false, T0);
    }
    store.flush("node_1", 100, batch(count("key_new", Outcome.VALID, M0 + 3_600_000, 1)), false, T0);
    store.rollUp(T0.plusSeconds(7_200));
    assertThat(store.deleteOlderThan(PostgresUsageStore.Retained.MINUTES, T0.plusSeconds(60), 10))
        .isEqualTo(10);
    assertThat(store.deleteOlderThan(PostgresUsageStore.Retained.MINUTES, T0.plusSeconds(60), 100))
        .isEqualTo(15);
    assertThat(total(Granularity.MINUTE, "key_new", Outcome.VALID)).isEqualTo(1);
    assertThat(total(Granularity.HOUR, "key_3", Outcome.VALID)).isEqualTo(1);
  }

  @Test
  void aFlushIntoADatabaseThatRefusesConnectionsIsAStoreExceptionAndWritesNothing() {
    database.refuseAndKillConnections();
    try {
      assertThatThrownBy(() -> store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 1)),
          false, T0)).isInstanceOf(StoreException.class);
    } finally {
      database.restore();
    }
    assertThat(total(Granularity.MINUTE, "key_a", Outcome.VALID)).isZero();
    // The same batch number goes through once the database is back.
    store.flush("node_1", 1, batch(count("key_a", Outcome.VALID, M0, 1)), false, T0);
    assertThat(total(Granularity.MINUTE, "key_a", Outcome.VALID)).isEqualTo(1);
  }

  @Test
  void theOutboxCursorNeverSkipsARowWhoseTransactionCommitsAfterALaterOne() throws Exception {
    UsageOutbox.Cursor start = outbox.cursor("test");
    // Transaction A takes the first id and stays open; B takes the next and commits first.
    try (Connection a = database.pool().getConnection()) {
      a.setAutoCommit(false);
      insertOutbox(a, "node_a", 1);
      try (Connection b = database.pool().getConnection()) {
        insertOutbox(b, "node_b", 1); // autocommit
      }
      // A reader by id would deliver B's row now and, moving its cursor past B's id, never see
      // A's. This one delivers nothing while A may still commit below B.
      assertThat(naiveRowsAfterId(0)).containsExactly("node_b");
      assertThat(outbox.after(start, 100)).isEmpty();
      a.commit();
    }
    List<UsageOutbox.Row> rows = outbox.after(start, 100);
    assertThat(rows).extracting(UsageOutbox.Row::nodeId).containsExactly("node_a", "node_b");
    // Delivered one at a time, the cursor walks both and nothing after.
    outbox.advance("test", rows.get(0));
    UsageOutbox.Cursor moved = outbox.cursor("test");
    assertThat(outbox.after(moved, 100)).extracting(UsageOutbox.Row::nodeId)
        .containsExactly("node_b");
    outbox.advance("test", rows.get(1));
    assertThat(outbox.after(outbox.cursor("test"), 100)).isEmpty();
    assertThat(outbox.lag(outbox.cursor("test"))).isZero();
  }

  @Test
  void aFlushWithExportersPutsItsCountsInTheOutboxAsJson() {
    outbox.cursor("test");
    store.flush("node_1", 7, batch(count("key_a", Outcome.VALID, M0, 5)), true, T0);
    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("test"), 10);
    assertThat(rows).singleElement().satisfies(row -> {
      assertThat(row.eventId()).isEqualTo("node_1:7:0");
      assertThat(row.payloadJson()).contains("\"keyId\": \"key_a\"").contains("\"count\": 5")
          .contains("\"outcome\": \"VALID\"");
    });
  }

  @Test
  void aLargeBatchIsCutIntoPartsOfAHundredCountsEachWithItsOwnEventId() {
    outbox.cursor("test");
    UsageBatch.Count[] counts = new UsageBatch.Count[250];
    for (int i = 0; i < counts.length; i++) {
      counts[i] = count("key_" + i, Outcome.VALID, M0, 1);
    }
    store.flush("node_1", 3, batch(counts), true, T0);
    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("test"), 10);
    assertThat(rows).extracting(UsageOutbox.Row::eventId)
        .containsExactly("node_1:3:0", "node_1:3:1", "node_1:3:2");
    assertThat(rows).extracting(row -> row.payloadJson().split("\"keyId\"").length - 1)
        .containsExactly(100, 100, 50);
  }

  @Test
  void aBatchsEventsFollowItsCountsInPartsOfAHundredEachEventWithItsOwnId() {
    outbox.cursor("test");
    List<UsageSink.UsageEvent> events = new java.util.ArrayList<>();
    for (int i = 0; i < 150; i++) {
      events.add(new UsageSink.UsageEvent("key_" + (i % 3), "owner_1",
          i == 149 ? Outcome.REVOKED : Outcome.VALID, M0 + i));
    }
    UsageBatch counted = batch(count("key_0", Outcome.VALID, M0, 50), count("key_1", Outcome.VALID,
        M0, 50), count("key_2", Outcome.VALID, M0, 49), count("key_2", Outcome.REVOKED, M0, 1));
    store.flush("node_1", 4, new UsageBatch(counted.counts(), counted.lastUsedMillis(), List.of(),
        events), true, T0);

    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("test"), 10);
    assertThat(rows).extracting(UsageOutbox.Row::eventId)
        .containsExactly("node_1:4:0", "node_1:4:1", "node_1:4:2");
    assertThat(rows).extracting(UsageOutbox.Row::kind).containsExactly(UsageExport.COUNTS,
        UsageExport.EVENTS, UsageExport.EVENTS);
    assertThat(rows.get(1).payloadJson().split("\"keyId\"").length - 1).isEqualTo(100);
    assertThat(rows.get(1).payloadJson()).contains("\"id\": \"node_1:4:1:0\"")
        .contains("\"id\": \"node_1:4:1:99\"").contains("\"at\": \"2026-11-30T10:00:00+00:00\"")
        .contains("\"at\": \"2026-11-30T10:00:00.001+00:00\"");
    assertThat(rows.get(2).payloadJson()).contains("\"id\": \"node_1:4:2:49\"")
        .contains("\"outcome\": \"REVOKED\"").doesNotContain("node_1:4:2:50");
    // The minute counts are the same verifications.
    assertThat(total(Granularity.MINUTE, "key_2", Outcome.REVOKED)).isEqualTo(1);
    // With no exporter of counts, only the events go to the outbox, numbered from 0.
    store.flush("node_1", 5, new UsageBatch(List.of(count("key_0", Outcome.VALID, M0, 1)),
        Map.of(), List.of(), List.of(events.get(0))), false, T0);
    assertThat(outbox.after(cursorAfter(rows.get(2)), 10))
        .singleElement().satisfies(row -> {
          assertThat(row.eventId()).isEqualTo("node_1:5:0");
          assertThat(row.kind()).isEqualTo(UsageExport.EVENTS);
        });
  }

  @Test
  void anEventsGapTravelsWithTheFirstEventsPartOrAloneWhenNoEventWasKept() {
    outbox.cursor("test");
    UsageSink.UsageEvent event = new UsageSink.UsageEvent("key_0", "owner_1", Outcome.VALID, M0);
    store.flush("node_1", 8, new UsageBatch(List.of(count("key_0", Outcome.VALID, M0, 8)),
        Map.of(), List.of(), List.of(event), 7), false, T0);
    store.flush("node_1", 9, new UsageBatch(List.of(), Map.of(), List.of(), List.of(), 3), false,
        T0);

    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("test"), 10);
    assertThat(rows).extracting(UsageOutbox.Row::eventId).containsExactly("node_1:8:0",
        "node_1:9:0");
    assertThat(rows).extracting(UsageOutbox.Row::kind).containsOnly(UsageExport.EVENTS);
    assertThat(rows.get(0).payloadJson()).contains("\"eventsDropped\": 7")
        .contains("\"id\": \"node_1:8:0:0\"");
    assertThat(rows.get(1).payloadJson()).contains("\"eventsDropped\": 3")
        .contains("\"events\": []");
  }

  private UsageOutbox.Cursor cursorAfter(UsageOutbox.Row row) {
    outbox.advance("test", row);
    return outbox.cursor("test");
  }

  @Test
  void pausingKeepsTheCursorAndOnlyRowsEveryCursorPassedAreDeleted() {
    outbox.cursor("fast");
    outbox.cursor("slow");
    for (int seq = 1; seq <= 3; seq++) {
      store.flush("node_1", seq, batch(count("key_a", Outcome.VALID, M0, 1)), true, T0);
    }
    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("fast"), 10);
    for (UsageOutbox.Row row : rows) {
      outbox.advance("fast", row);
    }
    assertThat(outbox.setPaused("slow", true)).isTrue();
    assertThat(outbox.cursor("slow").paused()).isTrue();
    assertThat(outbox.deleteExported(100)).isZero(); // "slow" has delivered none
    outbox.advance("slow", rows.get(1));
    assertThat(outbox.deleteExported(100)).isEqualTo(2);
    assertThat(outbox.after(outbox.cursor("slow"), 10)).extracting(UsageOutbox.Row::seq)
        .containsExactly(3L);
  }

  @Test
  void aQuietCursorCanBeRemovedSoItNoLongerHoldsRowsBackButAnActiveOneIsKept() {
    outbox.cursor("running");
    outbox.cursor("removed"); // an exporter taken out of the configuration: it delivers nothing
    for (int seq = 1; seq <= 3; seq++) {
      store.flush("node_1", seq, batch(count("key_a", Outcome.VALID, M0, 1)), true, T0);
    }
    List<UsageOutbox.Row> rows = outbox.after(outbox.cursor("running"), 10);
    for (UsageOutbox.Row row : rows) {
      outbox.advance("running", row);
    }
    assertThat(outbox.deleteExported(100)).isZero();
    // Used just now: some node may still run it.
    assertThat(outbox.removeCursor("removed")).isEqualTo(UsageOutbox.Removal.ACTIVE);

    // Four minutes on, the running exporter has marked its cursor (it does once a minute); the
    // other has been quiet since.
    UsageOutbox later = new UsageOutbox(database.pool(), store.gate(),
        Clock.offset(Clock.systemUTC(), java.time.Duration.ofMinutes(4)));
    later.touch("running");
    assertThat(later.removeCursor("running")).isEqualTo(UsageOutbox.Removal.ACTIVE);
    assertThat(later.removeCursor("removed")).isEqualTo(UsageOutbox.Removal.REMOVED);
    assertThat(later.removeCursor("removed")).isEqualTo(UsageOutbox.Removal.UNKNOWN);
    assertThat(outbox.cursors()).extracting(UsageOutbox.Cursor::exporter)
        .containsExactly("running");
    assertThat(outbox.deleteExported(100)).isEqualTo(3);
    // An exporter whose cursor went while it ran is told, not silently moved nowhere.
    assertThatThrownBy(() -> outbox.advance("removed", rows.get(0)))
        .isInstanceOf(StoreException.class).hasMessageContaining("was removed while it ran");
  }

  private static void insertOutbox(Connection connection, String node, long seq) throws Exception {
    try (PreparedStatement insert = connection.prepareStatement("INSERT INTO keyward_usage_outbox"
        + " (node_id, seq, part, created_at, payload) VALUES (?, ?, 0, now(),"
        + " '{\"counts\": []}')")) {
      insert.setString(1, node);
      insert.setLong(2, seq);
      insert.executeUpdate();
    }
  }

  private List<String> naiveRowsAfterId(long id) throws Exception {
    List<String> nodes = new ArrayList<>();
    try (Connection c = database.pool().getConnection();
        PreparedStatement read = c.prepareStatement(
            "SELECT node_id FROM keyward_usage_outbox WHERE id > ? ORDER BY id")) {
      read.setLong(1, id);
      try (var rs = read.executeQuery()) {
        while (rs.next()) {
          nodes.add(rs.getString(1));
        }
      }
    }
    return nodes;
  }
}
