package io.keyward.server;

import io.keyward.store.postgres.Backfill;
import io.keyward.store.postgres.BackfillRunner;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a release's backfills in the background after migrate-at-start, so that a node never waits
 * for a data migration to serve: the schema change that made the column is already committed, and
 * code that needs the filled data sits behind a gate. Every node may run it; the runner's row lock
 * on the backfill's progress makes the batches take turns, so each row is still done once. A
 * backfill that fails (a batch that keeps losing its locks, the database gone) is tried again
 * after {@link #RETRY_AFTER}, from its last committed batch.
 *
 * <p>Metrics, per backfill: {@code keyward_backfill_rows} (rows done, as recorded in the
 * database), {@code keyward_backfill_batches}, {@code keyward_backfill_done} (1 once finished) and
 * {@code keyward_backfill_failures_total}.
 */
final class BackfillWorker implements AutoCloseable {
  /** How long after a failure a backfill is tried again. */
  static final Duration RETRY_AFTER = Duration.ofSeconds(30);

  private static final Logger LOG = LoggerFactory.getLogger(BackfillWorker.class);

  private final Thread thread;
  private final Map<String, AtomicLong[]> progress = new ConcurrentHashMap<>();
  private final Map<String, Counter> failures = new ConcurrentHashMap<>();

  private BackfillWorker(DataSource pool, List<Backfill> backfills, BackfillRunner.Settings settings,
      Duration retryAfter, MeterRegistry registry) {
    for (Backfill backfill : backfills) {
      AtomicLong[] values = {new AtomicLong(), new AtomicLong(), new AtomicLong()};
      progress.put(backfill.name(), values);
      Gauge.builder("keyward.backfill.rows", values[0], AtomicLong::get).tag("backfill",
          backfill.name()).description("Rows the backfill has done").register(registry);
      Gauge.builder("keyward.backfill.batches", values[1], AtomicLong::get).tag("backfill",
          backfill.name()).description("Batches the backfill has committed").register(registry);
      Gauge.builder("keyward.backfill.done", values[2], AtomicLong::get).tag("backfill",
          backfill.name()).description("1 once the backfill has finished").register(registry);
      failures.put(backfill.name(), Counter.builder("keyward.backfill.failures").tag("backfill",
          backfill.name()).description("Runs of the backfill that stopped on an error")
          .register(registry));
    }
    BackfillRunner runner = new BackfillRunner(pool, settings);
    this.thread = Thread.ofVirtual().name("keyward-backfills").unstarted(() -> {
      for (Backfill backfill : backfills) {
        while (!Thread.currentThread().isInterrupted()) {
          try {
            runner.run(backfill, this::record);
            LOG.info("backfill {} done", backfill.name());
            break;
          } catch (IllegalStateException e) {
            if (Thread.currentThread().isInterrupted()) {
              return;
            }
            failures.get(backfill.name()).increment();
            LOG.warn("backfill {} stopped, trying again in {} s from its last batch: {}",
                backfill.name(), retryAfter.toSeconds(), e.getMessage());
            try {
              Thread.sleep(retryAfter);
            } catch (InterruptedException stop) {
              return;
            }
          }
        }
      }
    });
  }

  /** Starts running {@code backfills} in order; with none, starts nothing. */
  static BackfillWorker start(DataSource pool, List<Backfill> backfills, MeterRegistry registry) {
    return start(pool, backfills, BackfillRunner.Settings.DEFAULTS, RETRY_AFTER, registry);
  }

  static BackfillWorker start(DataSource pool, List<Backfill> backfills,
      BackfillRunner.Settings settings, Duration retryAfter, MeterRegistry registry) {
    BackfillWorker worker = new BackfillWorker(pool, backfills, settings, retryAfter, registry);
    if (!backfills.isEmpty()) {
      worker.thread.start();
    }
    return worker;
  }

  private void record(BackfillRunner.Progress step) {
    AtomicLong[] values = progress.get(step.name());
    values[0].set(step.rowsDone());
    values[1].set(step.batches());
    values[2].set(step.done() ? 1 : 0);
  }

  /** Stops between batches; what committed stays, and the next start resumes from there. */
  @Override
  public void close() {
    if (!thread.isAlive()) {
      return; // never started (no backfills), or done
    }
    thread.interrupt();
    try {
      thread.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
