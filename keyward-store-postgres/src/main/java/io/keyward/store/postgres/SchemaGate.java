package io.keyward.store.postgres;

import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.StoreException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * A gate in front of a code path that needs database objects (tables, columns) a migration adds:
 * the path runs only once the pool's own connections see them, and falls back to the old
 * behaviour otherwise (incident I-1: a new table, created in a long migration transaction, was
 * invisible to other connections until commit, and the new code answered 500s).
 *
 * <p>The gate declares what it needs as a probe statement ({@code SELECT the, columns FROM table
 * WHERE false}: it reads nothing, and fails exactly when a table or column is missing or not
 * visible yet). It starts closed. While closed, it reruns the probe at most every {@code
 * recheckEvery}, in the background, and opens when the probe succeeds. A call through an open
 * gate that fails with {@code undefined_table} or {@code undefined_column} (the objects went
 * away, or a connection with an older view of the schema) closes it again, is counted, and is
 * answered by the fallback: never an error to the caller. Other database errors are not the
 * gate's business and surface as {@link StoreException}.
 */
public final class SchemaGate {
  private static final String UNDEFINED_TABLE = "42P01";
  private static final String UNDEFINED_COLUMN = "42703";

  private final String name;
  private final String probe;
  private final DataSource pool;
  private final Clock clock;
  private final long recheckMillis;
  private final AtomicBoolean checking = new AtomicBoolean();
  private final RateLimitedLogger warnings;
  private final Counter fallbacks;
  private volatile boolean open;
  private volatile long checkedAtMillis = Long.MIN_VALUE / 2;
  private volatile @Nullable String closedBecause = "not checked yet";

  /**
   * @param name what the gated path is, for logs, metrics and readiness ({@code node-registry})
   * @param probe a statement that succeeds exactly when the objects exist and are visible
   */
  public SchemaGate(String name, String probe, DataSource pool, Clock clock, Duration recheckEvery,
      MeterRegistry registry) {
    this.name = name;
    this.probe = probe;
    this.pool = pool;
    this.clock = clock;
    this.recheckMillis = recheckEvery.toMillis();
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(SchemaGate.class), clock,
        Duration.ofSeconds(30));
    this.fallbacks = Counter.builder("keyward.schema.gate.fallbacks")
        .description("Calls of a gated path answered by its fallback because its schema was missing")
        .tag("gate", name).register(registry);
    Gauge.builder("keyward.schema.gate.open", this, gate -> gate.isOpen() ? 1 : 0)
        .description("1 while a gated path's schema is visible to the pool and the path is on")
        .tag("gate", name).register(registry);
  }

  public String name() {
    return name;
  }

  /** Whether the path is on; a closed gate whose recheck is due starts one in the background. */
  public boolean isOpen() {
    if (!open && clock.millis() - checkedAtMillis >= recheckMillis) {
      recheckInBackground();
    }
    return open;
  }

  /** Runs the probe now, on the caller's thread (at start, and in tests). */
  public boolean checkNow() {
    try (Connection connection = pool.getConnection();
        PreparedStatement statement = connection.prepareStatement(probe)) {
      statement.executeQuery().close();
      if (!open) {
        LoggerFactory.getLogger(SchemaGate.class).info("schema gate {} open: its objects are visible", name);
      }
      closedBecause = null;
      open = true;
    } catch (SQLException e) {
      closedBecause = isMissingSchema(e) ? "schema not visible yet" : "database unavailable";
      open = false;
    } finally {
      checkedAtMillis = clock.millis();
    }
    return open;
  }

  /** Why the gate is closed, in words; null when open. */
  public @Nullable String closedBecause() {
    return open ? null : closedBecause;
  }

  /**
   * Runs {@code gated} if the gate is open, else {@code fallback}; a gated call that finds its
   * schema missing closes the gate and is answered by {@code fallback} too.
   *
   * @throws StoreException when the database fails otherwise
   */
  public <T> T call(GatedCall<T> gated, Supplier<T> fallback) {
    if (!isOpen()) {
      return fallback.get();
    }
    try {
      return gated.run();
    } catch (SQLException e) {
      if (!isMissingSchema(e)) {
        throw new StoreException(name + ": " + e.getMessage() + " (SQLState " + e.getSQLState() + ")", e);
      }
      open = false;
      closedBecause = "schema went missing: " + e.getSQLState();
      checkedAtMillis = clock.millis();
      fallbacks.increment();
      warnings.warn("schema gate {} closed: {}; answering with the fallback", name, e.getMessage());
      return fallback.get();
    }
  }

  private void recheckInBackground() {
    if (!checking.compareAndSet(false, true)) {
      return;
    }
    try {
      Thread.ofVirtual().name("keyward-gate-" + name).start(() -> {
        try {
          checkNow();
        } finally {
          checking.set(false);
        }
      });
    } catch (RuntimeException | OutOfMemoryError e) {
      checking.set(false);
    }
  }

  static boolean isMissingSchema(SQLException e) {
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (cause instanceof SQLException sql
          && (UNDEFINED_TABLE.equals(sql.getSQLState()) || UNDEFINED_COLUMN.equals(sql.getSQLState()))) {
        return true;
      }
    }
    return false;
  }

  /** A call that needs the gate's schema. */
  @FunctionalInterface
  public interface GatedCall<T> {
    T run() throws SQLException;
  }
}
