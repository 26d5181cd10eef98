package io.keyward.server;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.UsageBatch;
import io.keyward.usage.UsageBuffer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.TimeUnit;
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
  /** How long batch numbers are kept for deduplicating retries. */
  static final Duration BATCH_RETENTION = Duration.ofDays(1);
  private static final int DELETE_BATCH = 5_000;
  private static final int MAX_DELETES_PER_PASS = 20;

  private final UsageBuffer buffer;
  private final PostgresUsageStore store;
  private final @Nullable UsageOutbox outbox;
  private final String nodeId;
  private final Clock clock;
  private final UsageSettings settings;
  private final RateLimitedLogger warnings;
  private final Timer flushLatency;
  private final Counter flushFailures;
  private final Counter flushedVerifications;
  private final Thread thread;
  private long nextSeq = 1;
  private @Nullable Pending pending;
  private long lastRetentionMillis = Long.MIN_VALUE / 2;
  private volatile boolean closed;
  private volatile @Nullable String lastError;

  private record Pending(long seq, UsageBatch batch) {}

  UsageRecorder(UsageBuffer buffer, PostgresUsageStore store, @Nullable UsageOutbox outbox,
      String nodeId, Clock clock, UsageSettings settings, MeterRegistry registry) {
    this.buffer = buffer;
    this.store = store;
    this.outbox = outbox;
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
    Gauge.builder("keyward.usage.dropped", buffer, UsageBuffer::droppedTotal)
        .description("Verifications not counted since start because the usage buffer was full")
        .register(registry);
    Gauge.builder("keyward.usage.pending.batch", this, r -> r.pending == null ? 0 : 1)
        .description("1 while a batch the database did not take waits to be retried")
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
    while (!closed) {
      LockSupport.parkNanos(every);
      if (closed) {
        return;
      }
      try {
        flushOnce();
        retention();
      } catch (RuntimeException e) {
        warnings.warn("usage flush failed unexpectedly: {}", e.toString());
      }
    }
  }

  /**
   * Writes the pending batch, or drains a new one and writes it. Returns true when nothing is
   * left pending.
   */
  synchronized boolean flushOnce() {
    if (pending == null) {
      UsageBatch batch = buffer.drain(clock.millis());
      if (batch.isEmpty()) {
        return true;
      }
      pending = new Pending(nextSeq++, batch);
    }
    long started = System.nanoTime();
    try {
      store.flush(nodeId, pending.seq(), pending.batch(), outbox != null, clock.instant());
      flushedVerifications.increment(pending.batch().verifications());
      pending = null;
      lastError = null;
      return true;
    } catch (StoreException e) {
      flushFailures.increment();
      lastError = e.getMessage();
      warnings.warn("usage batch {} not written, kept for a retry: {}", pending.seq(),
          e.getMessage());
      return false;
    } finally {
      flushLatency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    }
  }

  private void retention() {
    long now = clock.millis();
    if (now - lastRetentionMillis < 60_000) {
      return;
    }
    lastRetentionMillis = now;
    Instant at = clock.instant();
    Duration kept = Duration.ofDays(settings.retentionDays());
    Instant minutesBefore = at.minus(kept.compareTo(MINUTE_RETENTION) < 0 ? kept : MINUTE_RETENTION)
        .truncatedTo(ChronoUnit.MINUTES);
    try {
      purge(PostgresUsageStore.Retained.MINUTES, minutesBefore);
      purge(PostgresUsageStore.Retained.HOURS, at.minus(kept));
      purge(PostgresUsageStore.Retained.DAYS, at.minus(kept));
      purge(PostgresUsageStore.Retained.DROPS, at.minus(kept));
      purge(PostgresUsageStore.Retained.BATCHES, at.minus(BATCH_RETENTION));
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
      long lost = (pending == null ? 0 : pending.batch().verifications())
          + buffer.drain(clock.millis()).verifications();
      LOG.warn("usage: {} verifications could not be written before the stop ({}); they are lost",
          lost, lastError);
    }
  }

  @Override
  public void close() {
    drainAndStop(Duration.ofSeconds(5));
  }
}
