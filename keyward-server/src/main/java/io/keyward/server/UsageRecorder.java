package io.keyward.server;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.UsageBatch;
import io.keyward.usage.UsageBuffer;
import io.keyward.usage.UsageExport;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a node's usage counts to PostgreSQL: every flush interval it drains the buffer into a
 * numbered batch and writes it in one transaction ({@link PostgresUsageStore#flush}). A batch the
 * database did not take stays with the node and is retried under the same number (so a commit the
 * node did not hear of is not counted twice), while the buffer goes on counting, bounded. Once a
 * minute it also deletes expired rows, in small batches. A graceful stop drains and writes what is
 * left; a {@code kill -9} loses what was counted since the last flush.
 */
final class UsageRecorder implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(UsageRecorder.class);
  /** Minute counts are kept at most this long (hour and day ones: the retention setting). */
  static final Duration MINUTE_RETENTION = Duration.ofDays(7);
  /** Event rows (exporters of events) are kept at most this long in the outbox, taken or not. */
  static final Duration EVENTS_RETENTION = Duration.ofDays(1);
  /** How long batch numbers are kept for deduplicating retries. */
  static final Duration BATCH_RETENTION = Duration.ofDays(1);
  private static final int DELETE_BATCH = 5_000;
  private static final int MAX_DELETES_PER_PASS = 20;

  private final UsageBuffer buffer;
  private final PostgresUsageStore store;
  private final @Nullable UsageOutbox outbox;
  /** Whether some exporter sends counts (events are in a batch only when some sends events). */
  private final boolean countsToOutbox;
  private final String nodeId;
  private final Clock clock;
  private final UsageSettings settings;
  private final RateLimitedLogger warnings;
  private final Timer flushLatency;
  private final Counter flushFailures;
  private final Counter flushedVerifications;
  private final Thread thread;
  private long nextSeq = 1;
  /** Parts of drained batches not written yet, in order; each part is a numbered batch. */
  private final java.util.ArrayDeque<Pending> pending = new java.util.ArrayDeque<>();
  /** Counts per part: a flush writes several small transactions rather than one large one. */
  static final int PART_COUNTS = 1_000;
  /**
   * The pause between the rollup's parts (PostgresUsageStore.ROLLUP_PARTS per level, inside its
   * transaction): a minute's rollup is spread over about a second and a half, not one burst.
   */
  static final Duration ROLLUP_PAUSE = Duration.ofMillis(200);
  private long lastRetentionMillis = Long.MIN_VALUE / 2;
  private volatile boolean closed;
  private volatile @Nullable String lastError;

  private record Pending(long seq, UsageBatch batch) {}

  /** A key's last use is written again only once it has moved on by this much. */
  static final long LAST_USE_STEP_MILLIS = 30_000;
  /**
   * The last use of each key this node has written: written again only once it has moved on by
   * {@link #LAST_USE_STEP_MILLIS}, not on every flush, so that {@code lastUsedAt} is at most that
   * plus a flush interval behind (40 s by default; the issue asks for a minute).
   */
  private final java.util.HashMap<String, Long> lastUseWritten = new java.util.HashMap<>();

  UsageRecorder(UsageBuffer buffer, PostgresUsageStore store, @Nullable UsageOutbox outbox,
      String nodeId, Clock clock, UsageSettings settings, MeterRegistry registry) {
    this.buffer = buffer;
    this.store = store;
    this.outbox = outbox;
    this.countsToOutbox = outbox != null && settings.exports(UsageExport.COUNTS);
    this.nodeId = nodeId;
    this.clock = clock;
    this.settings = settings;
    this.warnings = new RateLimitedLogger(LOG, clock, Duration.ofSeconds(30));
    this.flushLatency = Timer.builder("keyward.usage.flush.latency")
        .description("Time to write one batch of usage counts").register(registry);
    this.flushFailures = Counter.builder("keyward.usage.flush.failures")
        .description("Usage batches the database did not take (kept and retried)")
        .register(registry);
    this.flushedVerifications = Counter.builder("keyward.usage.flushed")
        .description("Verifications written to the usage tables").register(registry);
    Gauge.builder("keyward.usage.buffer.cells", buffer, UsageBuffer::heldCells)
        .description("Counters (key, outcome, minute) the usage buffer holds").register(registry);
    Gauge.builder("keyward.usage.buffer.capacity", buffer, UsageBuffer::maxCells)
        .description("Counters the usage buffer holds at most").register(registry);
    if (buffer.maxEvents() > 0) {
      Gauge.builder("keyward.usage.buffer.events", buffer, UsageBuffer::heldEvents)
          .description("Verifications the usage buffer keeps one by one for exporters of events")
          .register(registry);
      Gauge.builder("keyward.usage.events.dropped", buffer, UsageBuffer::eventsDroppedTotal)
          .description("Verifications counted but not kept as events since start (the events"
              + " were full); exported as eventsDropped")
          .register(registry);
    }
    Gauge.builder("keyward.usage.dropped", buffer, UsageBuffer::droppedTotal)
        .description("Verifications not counted since start because the usage buffer was full")
        .register(registry);
    Gauge.builder("keyward.usage.pending.batch", pendingCount, AtomicInteger::get)
        .description("Parts of batches not written yet (kept and retried while the database"
            + " does not take them)")
        .register(registry);
    this.thread = Thread.ofPlatform().daemon().name("keyward-usage-flush").unstarted(this::run);
  }

  UsageRecorder start() {
    thread.start();
    return this;
  }

  /** Why the last flush failed, or null if it did not. */
  @Nullable String lastError() {
    return lastError;
  }

  private void run() {
    long every = settings.flushEvery().toNanos();
    long next = System.nanoTime() + every;
    while (!closed) {
      // A fixed rate: a drain every interval however long the last write took, so that a
      // kill -9 loses about one interval's counting (plus a write in progress).
      for (long wait = next - System.nanoTime(); wait > 0 && !closed;
          wait = next - System.nanoTime()) {
        LockSupport.parkNanos(wait);
      }
      if (closed) {
        return;
      }
      next = Math.max(next + every, System.nanoTime());
      try {
        flushOnce(true);
        retention();
      } catch (RuntimeException | StackOverflowError | LinkageError e) {
        lastError = "unexpected: " + e;
        warnings.warn("usage flush failed unexpectedly: {}", e.toString());
      }
    }
  }

  /** {@code pending.size()}, readable without the monitor (a metrics scrape must not wait). */
  private final AtomicInteger pendingCount = new AtomicInteger();

  /** {@link #flushOnce(boolean)} without pauses between parts (a stop, a test). */
  boolean flushOnce() {
    return flushOnce(false);
  }

  /**
   * Writes what is pending, or drains a new batch and writes it, in parts of {@value
   * #PART_COUNTS} counts, each its own numbered transaction; with {@code spread}, the parts are
   * spread over three quarters of a flush interval, so that the database sees a steady trickle
   * rather than a burst. Returns true when nothing is left pending.
   */
  boolean flushOnce(boolean spread) {
    long pauseNanos = 0;
    synchronized (this) {
      if (pending.isEmpty()) {
        UsageBatch batch = buffer.drain(clock.millis());
        if (batch.isEmpty()) {
          return true;
        }
        for (UsageBatch part : split(batch.withLastUsed(newLastUses(batch.lastUsedMillis())))) {
          pending.add(new Pending(nextSeq++, part));
        }
        pendingCount.set(pending.size());
      }
      if (spread && pending.size() > 1) {
        // Over three quarters of the interval: done before the next drain (a fixed rate), and a
        // kill -9 still loses about one interval (the unwritten parts plus what came since).
        pauseNanos = settings.flushEvery().toNanos() * 3 / 4 / pending.size();
      }
    }
    while (true) {
      synchronized (this) {
        Pending next = pending.peek();
        if (next == null) {
          lastError = null;
          return true;
        }
        long started = System.nanoTime();
        try {
          store.flush(nodeId, next.seq(), next.batch(), countsToOutbox, clock.instant());
          flushedVerifications.increment(next.batch().verifications());
          lastUseWritten.putAll(next.batch().lastUsedMillis());
          pending.poll();
          pendingCount.set(pending.size());
        } catch (StoreException e) {
          flushFailures.increment();
          lastError = e.getMessage();
          warnings.warn("usage batch {} not written, kept for a retry ({} parts pending): {}",
              next.seq(), pending.size(), e.getMessage());
          return false;
        } finally {
          flushLatency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
        }
        if (pending.isEmpty()) {
          lastError = null;
          return true;
        }
      }
      if (pauseNanos > 0 && !closed) {
        LockSupport.parkNanos(pauseNanos);
      }
    }
  }

  /**
   * The batch in parts of at most {@value #PART_COUNTS} counts; drops go with the first; its
   * events, if any, follow in parts of at most {@value #PART_COUNTS} events.
   */
  static List<UsageBatch> split(UsageBatch batch) {
    if (batch.counts().size() <= PART_COUNTS && batch.events().size() <= PART_COUNTS) {
      return List.of(batch);
    }
    List<UsageBatch> parts = new java.util.ArrayList<>(splitCounts(batch.withoutEvents()));
    for (int from = 0; from < batch.events().size(); from += PART_COUNTS) {
      parts.add(new UsageBatch(List.of(), java.util.Map.of(), List.of(), batch.events()
          .subList(from, Math.min(batch.events().size(), from + PART_COUNTS)),
          from == 0 ? batch.eventsDropped() : 0));
    }
    if (batch.events().isEmpty() && batch.eventsDropped() > 0) {
      parts.add(new UsageBatch(List.of(), java.util.Map.of(), List.of(), List.of(),
          batch.eventsDropped()));
    }
    return parts;
  }

  private static List<UsageBatch> splitCounts(UsageBatch batch) {
    if (batch.counts().size() <= PART_COUNTS) {
      return batch.isEmpty() ? List.of() : List.of(batch);
    }
    List<UsageBatch> parts = new java.util.ArrayList<>();
    for (int from = 0; from < batch.counts().size(); from += PART_COUNTS) {
      List<UsageBatch.Count> counts =
          batch.counts().subList(from, Math.min(batch.counts().size(), from + PART_COUNTS));
      java.util.Map<String, Long> lastUsed = new java.util.HashMap<>();
      for (UsageBatch.Count count : counts) {
        Long at = batch.lastUsedMillis().get(count.keyId());
        if (at != null) {
          lastUsed.put(count.keyId(), at);
        }
      }
      parts.add(new UsageBatch(counts, lastUsed, from == 0 ? batch.drops() : List.of()));
    }
    return parts;
  }

  /** The last uses that have moved on by a step since the one written for the key. */
  private java.util.Map<String, Long> newLastUses(java.util.Map<String, Long> lastUses) {
    java.util.Map<String, Long> newer = new java.util.HashMap<>();
    lastUses.forEach((key, at) -> {
      Long written = lastUseWritten.get(key);
      if (written == null || at - written >= LAST_USE_STEP_MILLIS) {
        newer.put(key, at);
      }
    });
    return newer;
  }

  private void retention() {
    long now = clock.millis();
    if (now - lastRetentionMillis < 60_000) {
      return;
    }
    lastRetentionMillis = now;
    // Forget what was written more than a step ago: such a key's next use is written anyway.
    synchronized (this) {
      lastUseWritten.values().removeIf(written -> now - written >= LAST_USE_STEP_MILLIS);
    }
    Instant at = clock.instant();
    Duration kept = Duration.ofDays(settings.retentionDays());
    Instant minutesBefore = at.minus(kept.compareTo(MINUTE_RETENTION) < 0 ? kept : MINUTE_RETENTION)
        .truncatedTo(ChronoUnit.MINUTES);
    try {
      // Hours and days from the minutes every node has most likely flushed by now; a later
      // batch adds to them itself.
      store.rollUp(at.minus(settings.flushEvery()).minus(Duration.ofMinutes(1))
          .truncatedTo(ChronoUnit.MINUTES), ROLLUP_PAUSE);
      purge(PostgresUsageStore.Retained.MINUTES, minutesBefore);
      purge(PostgresUsageStore.Retained.HOURS, at.minus(kept));
      purge(PostgresUsageStore.Retained.DAYS, at.minus(kept));
      purge(PostgresUsageStore.Retained.DROPS, at.minus(kept));
      purge(PostgresUsageStore.Retained.BATCHES, at.minus(BATCH_RETENTION));
      // Rows an exporter never took (paused, or removed from the configuration) are kept as
      // long as the counts, no longer.
      purge(PostgresUsageStore.Retained.OUTBOX, at.minus(kept));
      purge(PostgresUsageStore.Retained.OUTBOX_EVENTS, at.minus(EVENTS_RETENTION));
      if (outbox != null) {
        for (int i = 0; i < MAX_DELETES_PER_PASS && outbox.deleteExported(DELETE_BATCH)
            == DELETE_BATCH; i++) {
          // every exporter has delivered these
        }
      }
    } catch (StoreException e) {
      warnings.warn("usage retention failed; retried in a minute: {}", e.getMessage());
    }
  }

  private void purge(PostgresUsageStore.Retained table, Instant before) {
    for (int i = 0; i < MAX_DELETES_PER_PASS
        && store.deleteOlderThan(table, before, DELETE_BATCH) == DELETE_BATCH; i++) {
      // short transactions, one batch each
    }
  }

  /** Stops the thread, then writes what is left, trying for up to {@code within}. */
  void drainAndStop(Duration within) {
    closed = true;
    LockSupport.unpark(thread);
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    long deadline = System.nanoTime() + within.toNanos();
    boolean done = false;
    while (!done && System.nanoTime() < deadline) {
      // Twice: the second takes what verifications still in flight counted after the first.
      done = flushOnce() && flushOnce();
      if (!done) {
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
      }
    }
    // Whatever is left now is lost: say how much.
    if (!done) {
      UsageBatch left = buffer.drain(clock.millis());
      long lost = left.verifications();
      long lostEvents = left.events().size();
      synchronized (this) {
        for (Pending part : pending) {
          lost += part.batch().verifications();
          lostEvents += part.batch().events().size();
        }
      }
      LOG.warn("usage: the counts of {} verifications (and {} exported events) could not be"
          + " written before the stop ({}); they are lost", lost, lostEvents, lastError);
    }
  }

  @Override
  public void close() {
    drainAndStop(Duration.ofSeconds(5));
  }
}
