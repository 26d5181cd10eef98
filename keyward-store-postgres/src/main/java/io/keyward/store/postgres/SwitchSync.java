package io.keyward.store.postgres;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.rollout.Switchboard;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.LoggerFactory;

/**
 * Keeps a node's {@link Switchboard} in step with the store: every {@link #POLL_EVERY} it reads
 * the highest version (one indexed aggregate), and when it is newer than what the node applied,
 * reads every switch and applies them; then it records the version applied for this node, so
 * {@code GET /v1/switches} can say which nodes lag. A change therefore reaches every node within
 * about {@code POLL_EVERY} plus a query, with or without Redis. A node that cannot read keeps what
 * it applied last (counted, warned at most every 30 s); one that never read has control paths
 * only. {@link #syncNow()} applies at once (after this node's own change, and in tests).
 */
public final class SwitchSync implements AutoCloseable {
  /** How often a node looks for a newer version. */
  public static final Duration POLL_EVERY = Duration.ofMillis(500);
  /** How often a node reports its applied version even when nothing changed. */
  static final Duration REPORT_EVERY = Duration.ofSeconds(5);

  private final PostgresSwitchStore store;
  private final Switchboard board;
  private final String nodeId;
  private final Duration pollEvery;
  private final RateLimitedLogger warnings;
  private final Counter failures;
  private final Thread thread;
  private volatile boolean closed;
  private long reportedAtNanos;
  private long reportedVersion = -1;

  private SwitchSync(PostgresSwitchStore store, Switchboard board, String nodeId,
      Duration pollEvery, Clock clock, MeterRegistry registry) {
    this.store = store;
    this.board = board;
    this.nodeId = nodeId;
    this.pollEvery = pollEvery;
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(SwitchSync.class), clock,
        Duration.ofSeconds(30));
    this.failures = Counter.builder("keyward.switches.sync.failures")
        .description("Reads of the switches that failed (the node keeps what it applied)")
        .register(registry);
    Gauge.builder("keyward.switches.applied.version", board, Switchboard::appliedVersion)
        .description("The highest switch version this node has applied").register(registry);
    this.thread = Thread.ofPlatform().daemon().name("keyward-switch-sync")
        .unstarted(this::pollForever);
  }

  /** Applies what is stored now, then keeps polling. */
  public static SwitchSync start(PostgresSwitchStore store, Switchboard board, String nodeId,
      Duration pollEvery, Clock clock, MeterRegistry registry) {
    SwitchSync sync = new SwitchSync(store, board, nodeId, pollEvery, clock, registry);
    sync.syncNow();
    sync.thread.start();
    return sync;
  }

  /** One round: read, apply if newer, report; never throws. */
  public synchronized void syncNow() {
    try {
      var version = store.version();
      if (version.isEmpty()) {
        return; // the tables are not visible yet: control paths
      }
      if (version.get() > board.appliedVersion() || board.states().isEmpty()) {
        store.read().ifPresent(snapshot -> board.apply(snapshot.states(), snapshot.version()));
      }
      long now = System.nanoTime();
      if (board.appliedVersion() != reportedVersion
          || now - reportedAtNanos >= REPORT_EVERY.toNanos()) {
        store.reportApplied(nodeId, board.appliedVersion());
        reportedVersion = board.appliedVersion();
        reportedAtNanos = now;
      }
    } catch (RuntimeException e) {
      failures.increment();
      warnings.warn("node {} could not read the switches (keeping version {}): {}", nodeId,
          board.appliedVersion(), e.toString());
    }
  }

  private void pollForever() {
    while (!closed) {
      try {
        Thread.sleep(pollEvery);
      } catch (InterruptedException e) {
        return;
      }
      if (!closed) {
        syncNow();
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    thread.interrupt();
    try {
      thread.join(Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
