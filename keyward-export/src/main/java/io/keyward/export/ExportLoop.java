package io.keyward.export;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.UsageExport;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * Runs one exporter on a thread of its own: reads the outbox after the exporter's cursor (in
 * commit order, see {@link UsageOutbox}), delivers each row, and moves the cursor past it only
 * once it is delivered. A failure is recorded on the cursor, counted and retried with jittered
 * exponential backoff (100 ms to 30 s), the same row under the same event id; a paused exporter's
 * cursor waits. Nothing here touches a verification. An exporter sends one kind of row, counts or
 * events ({@link UsageExport}); the cursor passes over rows of the other kind.
 *
 * <p>Several nodes may run the same exporter: they read the same cursor, so a row may be
 * delivered by more than one of them (at least once; consumers deduplicate by event id, and NATS
 * does within its duplicate window).
 */
public final class ExportLoop implements AutoCloseable {
  private static final int BATCH = 100;
  private static final long MIN_BACKOFF_MILLIS = 100;
  private static final long MAX_BACKOFF_MILLIS = 30_000;

  private final UsageExporter exporter;
  private final UsageExport kind;
  private final UsageOutbox outbox;
  private final Duration pollEvery;
  private final Clock clock;
  private final RateLimitedLogger warnings;
  private final Counter delivered;
  private final Counter failures;
  private final Thread thread;
  private volatile boolean closed;
  private volatile long lag;
  private volatile boolean paused;
  private volatile @Nullable String lastError;
  private long backoffMillis = MIN_BACKOFF_MILLIS;

  /** An exporter of the per-minute counts. */
  public ExportLoop(UsageExporter exporter, UsageOutbox outbox, Duration pollEvery, Clock clock,
      MeterRegistry registry) {
    this(exporter, UsageExport.COUNTS, outbox, pollEvery, clock, registry);
  }

  /**
   * @param kind what the exporter sends: the outbox's rows of the other kind are passed over (the
   *     cursor moves past them undelivered)
   */
  public ExportLoop(UsageExporter exporter, UsageExport kind, UsageOutbox outbox,
      Duration pollEvery, Clock clock, MeterRegistry registry) {
    this.exporter = exporter;
    this.kind = kind;
    this.outbox = outbox;
    this.pollEvery = pollEvery;
    this.clock = clock;
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(ExportLoop.class), clock,
        Duration.ofSeconds(30));
    this.delivered = Counter.builder("keyward.usage.export.delivered")
        .description("Usage batches an exporter delivered").tag("exporter", exporter.name())
        .register(registry);
    this.failures = Counter.builder("keyward.usage.export.failures")
        .description("Usage deliveries that failed (retried)").tag("exporter", exporter.name())
        .register(registry);
    Gauge.builder("keyward.usage.export.lag", this, loop -> loop.lag)
        .description("Usage batches in the outbox after an exporter's cursor")
        .tag("exporter", exporter.name()).register(registry);
    Gauge.builder("keyward.usage.export.paused", this, loop -> loop.paused ? 1 : 0)
        .description("1 while an exporter is paused").tag("exporter", exporter.name())
        .register(registry);
    this.thread = Thread.ofPlatform().daemon().name("keyward-export-" + exporter.name())
        .unstarted(this::run);
  }

  /** Starts the loop's thread. */
  public ExportLoop start() {
    thread.start();
    return this;
  }

  public String name() {
    return exporter.name();
  }

  /** What the loop last saw: for the API, the CLI and the readiness body. */
  public record Status(String exporter, boolean paused, long lag, @Nullable String lastError) {}

  public Status status() {
    return new Status(exporter.name(), paused, lag, lastError);
  }

  private void run() {
    while (!closed) {
      long waitMillis;
      try {
        waitMillis = once();
      } catch (RuntimeException e) {
        waitMillis = failed("reading the outbox", e);
      }
      if (waitMillis > 0 && !closed) {
        LockSupport.parkNanos(waitMillis * 1_000_000L);
      }
    }
  }

  /** One pass: returns how long to wait before the next. */
  long once() {
    UsageOutbox.Cursor cursor = outbox.cursor(exporter.name());
    if (cursor.updatedAt().isBefore(clock.instant().minus(UsageOutbox.TOUCH_EVERY))) {
      // A sign of life when there is nothing to deliver: a cursor quiet for a few minutes
      // may be removed as a left-over (DELETE /v1/usage/exporters/{name}).
      outbox.touch(exporter.name());
    }
    paused = cursor.paused();
    if (paused) {
      lag = outbox.lag(cursor);
      return 1_000;
    }
    List<UsageOutbox.Row> rows = outbox.after(cursor, BATCH);
    UsageOutbox.Row passedOver = null;
    for (UsageOutbox.Row row : rows) {
      if (closed) {
        break;
      }
      if (row.kind() != kind) {
        passedOver = row; // not ours: the cursor moves past it with the next advance
        continue;
      }
      passedOver = null;
      try {
        exporter.deliver(row);
      } catch (Exception e) {
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        long wait = failed("delivering " + row.eventId(), e);
        try {
          outbox.recordError(exporter.name(), lastError);
        } catch (StoreException ignored) {
          // the database is failing too: the error stays in memory, the metrics and the log
        }
        return wait;
      }
      outbox.advance(exporter.name(), row);
      delivered.increment();
      backoffMillis = MIN_BACKOFF_MILLIS;
      lastError = null;
    }
    if (passedOver != null) {
      outbox.advance(exporter.name(), passedOver);
    }
    if (closed) {
      return 0;
    }
    lag = outbox.lag(outbox.cursor(exporter.name()));
    return rows.size() == BATCH ? 0 : pollEvery.toMillis();
  }

  private long failed(String what, Exception e) {
    lastError = what + ": " + e;
    failures.increment();
    warnings.warn("usage exporter {} failed {}; retrying: {}", exporter.name(), what,
        e.toString());
    long wait = ThreadLocalRandom.current().nextLong(backoffMillis / 2, backoffMillis + 1);
    backoffMillis = Math.min(MAX_BACKOFF_MILLIS, backoffMillis * 2);
    return wait;
  }

  @Override
  public void close() {
    closed = true;
    LockSupport.unpark(thread);
    thread.interrupt();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    exporter.close();
  }
}
