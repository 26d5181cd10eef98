package io.keyward.server;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.postgres.PostgresKeyStore.PreflightProblem;
import io.keyward.store.postgres.SchemaGate;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * Whether this node should get traffic, for {@code /health/ready}.
 *
 * <p>A load balancer that pulls every node whose database fails pulls them all at once, and then
 * stale serving serves nobody. So a node that can answer stays ready: one whose schema preflight
 * has passed at least once and that holds a cached record young enough to serve stale is
 * <em>ready but degraded</em> while the
 * store fails (it answers cached keys, and 503 for the rest). Only a node that cannot answer at
 * all is not ready: one that has never seen a usable schema (never reached the store, or the
 * tables it needs are missing or not visible yet: incident I-1), one with nothing cached while
 * the store fails, and one that is shutting down.
 *
 * <p>The probe never waits for the database: it answers from the last finding and, when that is
 * older than a second, starts one preflight in the background (at most one at a time, so however
 * often it is called it costs at most one query a second). No lock is held around JDBC, which on
 * JDK 21 would pin a carrier thread. Answers name the state in words, never the database's own
 * messages or the pool's internals: those go to the log, rate-limited.
 */
public final class Readiness {
  private static final long REFRESH_NANOS = Duration.ofSeconds(1).toNanos();

  /** The state a probe reports. */
  public enum State {
    /** Store and schema fine. */
    READY,
    /** The store fails, but this node holds cached keys and answers them: keep sending traffic. */
    DEGRADED,
    /** Cannot answer: never had a usable schema, nothing cached while the store fails, stopping. */
    NOT_READY
  }

  /** A probe's answer: the state and a short reason in words (null when READY). */
  public record Report(State state, @Nullable String reason) {}

  private final Supplier<@Nullable PreflightProblem> preflight;
  private final List<SchemaGate> gates;
  private final Verifier verifier;
  private final RateLimitedLogger warnings;
  private final AtomicBoolean checking = new AtomicBoolean();
  private volatile long checkedAtNanos;
  private volatile @Nullable PreflightProblem problem;
  private volatile boolean schemaSeen;
  private volatile boolean stopping;

  Readiness(Supplier<@Nullable PreflightProblem> preflight, Verifier verifier, Clock clock,
      MeterRegistry registry) {
    this(preflight, verifier, clock, registry, List.of());
  }

  /** @param gates the gated code paths, shown (not judged: a closed gate is a path switched off) */
  Readiness(Supplier<@Nullable PreflightProblem> preflight, Verifier verifier, Clock clock,
      MeterRegistry registry, List<SchemaGate> gates) {
    this.gates = List.copyOf(gates);
    this.preflight = preflight;
    this.verifier = verifier;
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(Readiness.class), clock,
        Duration.ofSeconds(30));
    Gauge.builder("keyward.ready", this, r -> r.report().state() == State.NOT_READY ? 0 : 1)
        .description("1 while /health/ready answers 200 (ready or degraded), else 0")
        .register(registry);
    Gauge.builder("keyward.ready.degraded", this, r -> r.report().state() == State.DEGRADED ? 1 : 0)
        .description("1 while this node answers from its cache because the store fails")
        .register(registry);
  }

  /** Each gated path and whether it is on: {@code open}, or why not, in words. */
  public Map<String, String> gates() {
    Map<String, String> states = new TreeMap<>();
    for (SchemaGate gate : gates) {
      String closed = gate.isOpen() ? null : gate.closedBecause();
      states.put(gate.name(), closed == null ? "open" : "closed: " + closed);
    }
    return states;
  }

  /** Runs the preflight now and waits for it (at start, before traffic). */
  void checkNow() {
    record(preflight.get());
  }

  /** From now on the node reports not ready (graceful shutdown). */
  void stopping() {
    stopping = true;
  }

  /** The current answer; never blocks on the database. */
  Report report() {
    refreshInBackgroundIfOld();
    if (stopping) {
      return new Report(State.NOT_READY, "shutting down");
    }
    PreflightProblem current = problem;
    if (current == null) {
      return new Report(State.READY, null);
    }
    String what = current.schema() ? "schema not usable" : "store failing";
    if (schemaSeen && verifier.canAnswerFromCache()) {
      return new Report(State.DEGRADED, what + "; answering cached keys");
    }
    return new Report(State.NOT_READY, schemaSeen ? what + "; nothing cached" : what);
  }

  private void refreshInBackgroundIfOld() {
    if (System.nanoTime() - checkedAtNanos < REFRESH_NANOS || !checking.compareAndSet(false, true)) {
      return;
    }
    try {
      Thread.ofVirtual().name("keyward-readiness").start(() -> {
        try {
          record(preflight.get());
        } catch (RuntimeException e) {
          record(new PreflightProblem(false, e.toString()));
        } finally {
          checking.set(false);
        }
      });
    } catch (RuntimeException | OutOfMemoryError e) {
      checking.set(false);
    }
  }

  private void record(@Nullable PreflightProblem found) {
    if (found == null) {
      schemaSeen = true;
    } else {
      warnings.warn("readiness preflight failed: {}", found.detail());
    }
    problem = found;
    checkedAtNanos = System.nanoTime();
  }
}
