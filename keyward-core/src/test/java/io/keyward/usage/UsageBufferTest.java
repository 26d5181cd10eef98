package io.keyward.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.verify.Outcome;
import io.keyward.verify.UsageSink.UsageEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The usage buffer: exact counts under concurrency, minute buckets, bounded with counted drops. */
class UsageBufferTest {
  private static final long T0 = 1_800_000_000_000L; // a minute boundary: 2027-01-15T08:00:00Z

  private static long sum(UsageBatch batch, String keyId, Outcome outcome) {
    return batch.counts().stream()
        .filter(c -> c.keyId().equals(keyId) && c.outcome() == outcome)
        .mapToLong(UsageBatch.Count::count).sum();
  }

  @Test
  void countsPerKeyOutcomeAndMinuteWithTheLatestUse() {
    UsageBuffer buffer = new UsageBuffer(100);
    buffer.accept(new UsageEvent("key_a", "o1", Outcome.VALID, T0 + 1_000));
    buffer.accept(new UsageEvent("key_a", "o1", Outcome.VALID, T0 + 59_000));
    buffer.accept(new UsageEvent("key_a", "o1", Outcome.VALID, T0 + 61_000));
    buffer.accept(new UsageEvent("key_a", "o1", Outcome.REVOKED, T0 + 2_000));
    buffer.accept(new UsageEvent("key_b", "o2", Outcome.VALID, T0 + 3_000));

    UsageBatch batch = buffer.drain(T0 + 61_500);

    assertThat(batch.counts()).containsExactlyInAnyOrder(
        new UsageBatch.Count("key_a", "o1", Outcome.VALID, T0, 2),
        new UsageBatch.Count("key_a", "o1", Outcome.VALID, T0 + 60_000, 1),
        new UsageBatch.Count("key_a", "o1", Outcome.REVOKED, T0, 1),
        new UsageBatch.Count("key_b", "o2", Outcome.VALID, T0, 1));
    assertThat(batch.lastUsedMillis()).containsEntry("key_a", T0 + 61_000)
        .containsEntry("key_b", T0 + 3_000);
    assertThat(batch.drops()).isEmpty();
    // The past minute's counters are gone; the current one's are zeroed and kept.
    assertThat(buffer.heldCells()).isEqualTo(1);
    assertThat(buffer.drain(T0 + 62_000).isEmpty()).isTrue();
  }

  @Test
  void aFullBufferDropsWhatNeedsANewCounterAndCountsItPerMinute() {
    UsageBuffer buffer = new UsageBuffer(2);
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0));
    buffer.accept(new UsageEvent("key_b", "o", Outcome.VALID, T0));
    buffer.accept(new UsageEvent("key_c", "o", Outcome.VALID, T0 + 1)); // no room
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0 + 2)); // its counter exists

    UsageBatch batch = buffer.drain(T0 + 120_000);
    assertThat(sum(batch, "key_a", Outcome.VALID)).isEqualTo(2);
    assertThat(sum(batch, "key_c", Outcome.VALID)).isZero();
    assertThat(batch.drops()).containsExactly(new UsageBatch.Drop(T0, 1));
    assertThat(buffer.droppedTotal()).isEqualTo(1);
    // Room again once the minute's counters are drained.
    buffer.accept(new UsageEvent("key_c", "o", Outcome.VALID, T0 + 121_000));
    assertThat(sum(buffer.drain(T0 + 121_500), "key_c", Outcome.VALID)).isEqualTo(1);
  }

  @Test
  void everyEventIsDrainedExactlyOnceWhileEightThreadsCountAcrossMinuteBoundaries()
      throws Exception {
    UsageBuffer buffer = new UsageBuffer(1_000_000);
    AtomicLong clock = new AtomicLong(T0);
    int threads = 8;
    int perThread = 200_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    AtomicBoolean done = new AtomicBoolean();
    List<Future<?>> writers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int seed = t;
      writers.add(pool.submit(() -> {
        Random random = new Random(seed);
        start.await();
        for (int i = 0; i < perThread; i++) {
          // The clock moves on while they count: events land in several minutes.
          long at = clock.addAndGet(random.nextInt(3));
          buffer.accept(new UsageEvent("key_" + random.nextInt(50), "o",
              Outcome.values()[random.nextInt(3)], at));
        }
        return null;
      }));
    }
    long drained = 0;
    start.countDown();
    while (!done.get()) {
      drained += buffer.drain(clock.get()).verifications();
      done.set(writers.stream().allMatch(Future::isDone));
    }
    for (Future<?> writer : writers) {
      writer.get();
    }
    drained += buffer.drain(clock.get() + 120_000).verifications();
    pool.shutdown();

    assertThat(buffer.droppedTotal()).isZero();
    assertThat(drained).isEqualTo((long) threads * perThread);
    assertThat(buffer.heldCells()).isZero();
  }

  @Test
  void eventsAreKeptOneByOneInOrderAlongsideTheCountsWhenAnExporterSendsThem() {
    UsageBuffer buffer = new UsageBuffer(100, 10);
    UsageEvent first = new UsageEvent("key_a", "o1", Outcome.VALID, T0 + 1_000);
    UsageEvent second = new UsageEvent("key_a", "o1", Outcome.REVOKED, T0 + 2_000);
    UsageEvent third = new UsageEvent("key_b", "o2", Outcome.VALID, T0 + 3_000);
    buffer.accept(first);
    buffer.accept(second);
    buffer.accept(third);

    UsageBatch batch = buffer.drain(T0 + 4_000);

    assertThat(batch.events()).containsExactly(first, second, third);
    assertThat(batch.verifications()).isEqualTo(3);
    assertThat(buffer.heldEvents()).isZero();
    assertThat(buffer.drain(T0 + 5_000).events()).isEmpty();
    // Without an exporter of events, none is kept.
    UsageBuffer countsOnly = new UsageBuffer(100);
    countsOnly.accept(first);
    assertThat(countsOnly.drain(T0 + 4_000).events()).isEmpty();
  }

  @Test
  void aVerificationThatFindsTheEventsFullKeepsItsCountAndTheEventsGapIsCounted() {
    UsageBuffer buffer = new UsageBuffer(100, 2);
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0));
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0 + 1));
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0 + 2)); // no room for the event

    UsageBatch batch = buffer.drain(T0 + 3);
    assertThat(batch.events()).hasSize(2);
    assertThat(sum(batch, "key_a", Outcome.VALID)).as("counts stay exact").isEqualTo(3);
    assertThat(batch.eventsDropped()).isEqualTo(1);
    assertThat(batch.drops()).isEmpty();
    assertThat(buffer.eventsDroppedTotal()).isEqualTo(1);
    assertThat(buffer.drain(T0 + 4).eventsDropped()).isZero();
    // And a verification that finds the counters full gives its event's room back.
    UsageBuffer cells = new UsageBuffer(1, 5);
    cells.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0));
    cells.accept(new UsageEvent("key_b", "o", Outcome.VALID, T0)); // no counter for it
    assertThat(cells.heldEvents()).isEqualTo(1);
    UsageBatch one = cells.drain(T0 + 1);
    assertThat(one.events()).extracting(UsageEvent::keyId).containsExactly("key_a");
    assertThat(one.drops()).containsExactly(new UsageBatch.Drop(T0, 1));
  }

  @Test
  void countsAreExactAndEventsPlusTheirGapsEqualThemWhileEightThreadsCountIntoFullEvents()
      throws Exception {
    UsageBuffer buffer = new UsageBuffer(1_000_000, 5_000);
    int threads = 8;
    int perThread = 100_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> writers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int seed = t;
      writers.add(pool.submit(() -> {
        Random random = new Random(seed);
        start.await();
        for (int i = 0; i < perThread; i++) {
          buffer.accept(new UsageEvent("key_" + random.nextInt(50), "o", Outcome.VALID,
              T0 + random.nextInt(1_000)));
        }
        return null;
      }));
    }
    long counted = 0;
    long events = 0;
    long gaps = 0;
    start.countDown();
    boolean done = false;
    while (!done) {
      done = writers.stream().allMatch(Future::isDone);
      UsageBatch batch = buffer.drain(T0 + 120_000);
      counted += batch.verifications();
      events += batch.events().size();
      gaps += batch.eventsDropped();
    }
    for (Future<?> writer : writers) {
      writer.get();
    }
    UsageBatch last = buffer.drain(T0 + 120_000);
    counted += last.verifications();
    events += last.events().size();
    gaps += last.eventsDropped();
    pool.shutdown();

    assertThat(counted).isEqualTo((long) threads * perThread);
    assertThat(buffer.droppedTotal()).isZero();
    assertThat(gaps).as("the events were full at times").isPositive()
        .isEqualTo(buffer.eventsDroppedTotal());
    assertThat(events + gaps).isEqualTo(counted);
    assertThat(buffer.heldEvents()).isZero();
  }

  @Test
  void aVerificationThatFindsTheCountersFullIsADropAndNotAlsoAnEventsGap() {
    UsageBuffer buffer = new UsageBuffer(1, 1);
    buffer.accept(new UsageEvent("key_a", "o", Outcome.VALID, T0)); // counted, event kept
    buffer.accept(new UsageEvent("key_b", "o", Outcome.VALID, T0)); // no counter: a drop only

    UsageBatch batch = buffer.drain(T0 + 1);
    assertThat(batch.events()).extracting(UsageEvent::keyId).containsExactly("key_a");
    assertThat(batch.drops()).containsExactly(new UsageBatch.Drop(T0, 1));
    assertThat(batch.eventsDropped()).isZero();
  }

  @Test
  void aBufferWithoutRoomIsRefusedNamingTheSetting() {
    assertThatThrownBy(() -> new UsageBuffer(0))
        .hasMessageContaining("must hold at least 1 counter, got 0");
  }
}
