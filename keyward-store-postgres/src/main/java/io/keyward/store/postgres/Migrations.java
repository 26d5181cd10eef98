package io.keyward.store.postgres;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.flywaydb.core.api.configuration.FluentConfiguration;
import org.flywaydb.core.api.output.MigrateResult;
import org.flywaydb.database.postgresql.PostgreSQLConfigurationExtension;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings the schema up to this release's version with the Flyway migrations in {@code
 * db/migration}, without ever holding up the lookups of running nodes for long.
 *
 * <p>A DDL statement that waits for a table lock (behind a long transaction) queues every later
 * query of that table behind it: every lookup on every node (incident I-1's mechanism). So the
 * migration connections run with a {@code lock_timeout} ({@link #LOCK_TIMEOUT}): a statement
 * that cannot get its lock soon gives up (SQLState 55P03), the migration's transaction rolls back,
 * the queue behind it drains, and the migration is tried again after a jittered backoff, up to
 * {@link #ATTEMPTS} times. Connections also have a connect timeout, TCP keep-alive and a socket
 * timeout ({@link #SOCKET_TIMEOUT}, above any statement a migration should run), so a dead
 * network fails the migration instead of hanging it.
 *
 * <p>Flyway's own lock is a session advisory lock (not one held in an open transaction), so a
 * migration of only {@code CREATE INDEX CONCURRENTLY}, which Flyway runs outside a transaction,
 * does not wait for Flyway's own transaction forever.
 */
public final class Migrations {
  private static final Logger LOG = LoggerFactory.getLogger(Migrations.class);

  /** Longest a migration statement waits for a lock before its attempt is given up. */
  public static final Duration LOCK_TIMEOUT = Duration.ofSeconds(5);
  /** Attempts of a migration whose statements time out waiting for locks. */
  public static final int ATTEMPTS = 5;
  /** Longest a migration connection waits for any answer from the server. */
  public static final Duration SOCKET_TIMEOUT = Duration.ofMinutes(15);
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
  private static final String LOCK_NOT_AVAILABLE = "55P03";

  private Migrations() {}

  /**
   * Applies every pending migration of this release.
   *
   * @return how many migrations were applied
   * @throws IllegalStateException in one line: the database cannot be reached, a lock could not
   *     be had in {@link #ATTEMPTS} attempts, or a migration failed
   */
  public static int migrate(DatabaseUrl url) {
    return migrate(url, "classpath:db/migration", LOCK_TIMEOUT, ATTEMPTS, Duration.ofSeconds(1));
  }

  /**
   * Applies every pending migration of this release, each checked by {@code callbacks} (the
   * contract gate: a migration that breaks the query contract of a live node is rolled back).
   */
  public static int migrate(DatabaseUrl url, org.flywaydb.core.api.callback.Callback... callbacks) {
    return migrate(url, "classpath:db/migration", LOCK_TIMEOUT, ATTEMPTS, Duration.ofSeconds(1),
        callbacks);
  }

  /**
   * Applies the migrations at {@code location} with these limits (for tests, and for other
   * projects' migrations).
   *
   * @param firstBackoff the wait before the second attempt; it doubles, with jitter
   */
  public static int migrate(DatabaseUrl url, String location, Duration lockTimeout, int attempts,
      Duration firstBackoff, org.flywaydb.core.api.callback.Callback... callbacks) {
    Flyway flyway = flyway(url, location, lockTimeout, callbacks);
    for (int attempt = 1; ; attempt++) {
      try {
        MigrateResult result = flyway.migrate();
        LOG.info("schema at version {} ({} migration(s) applied)",
            result.targetSchemaVersion == null ? result.initialSchemaVersion : result.targetSchemaVersion,
            result.migrationsExecuted);
        return result.migrationsExecuted;
      } catch (FlywayException e) {
        SQLException cause = sqlCause(e);
        boolean lockTimedOut = cause != null && LOCK_NOT_AVAILABLE.equals(cause.getSQLState());
        if (!lockTimedOut) {
          throw new IllegalStateException(describe(url, e, cause), e);
        }
        forgetFailedAttempt(flyway);
        if (attempt >= attempts) {
          throw new IllegalStateException("schema migration gave up after " + attempts
              + " attempts: a statement waited more than " + lockTimeout.toMillis()
              + " ms for a lock each time (a long transaction holds the table; see"
              + " pg_stat_activity): " + ErrorText.firstLine(cause.getMessage()), e);
        }
        long backoff = firstBackoff.toMillis() << Math.min(attempt - 1, 10);
        long jittered = backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
        LOG.warn("schema migration attempt {} of {} could not get a lock within {} ms; the"
            + " statement was abandoned so lookups are not queued behind it; trying again in {} ms",
            attempt, attempts, lockTimeout.toMillis(), jittered);
        try {
          Thread.sleep(jittered);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting to retry the migration", e);
        }
      }
    }
  }

  private static Flyway flyway(DatabaseUrl url, String location, Duration lockTimeout,
      org.flywaydb.core.api.callback.Callback... callbacks) {
    FluentConfiguration configuration = Flyway.configure()
        .dataSource(dataSource(url, lockTimeout))
        .locations(location.split(","))
        .callbacks(callbacks)
        .table("keyward_schema_history")
        .baselineOnMigrate(false)
        .validateMigrationNaming(true)
        // A file of CREATE INDEX CONCURRENTLY may also SET lock_timeout = 0 around it (see V3);
        // Flyway then runs the whole file outside a transaction.
        .mixed(true);
    // Flyway's default holds its lock in an open transaction on another connection, which a
    // CREATE INDEX CONCURRENTLY waits for forever (flyway#3497).
    configuration.getConfigurationExtension(PostgreSQLConfigurationExtension.class)
        .setTransactionalLock(false);
    return configuration.load();
  }

  private static DataSource dataSource(DatabaseUrl url, Duration lockTimeout) {
    PGSimpleDataSource source = new PGSimpleDataSource();
    source.setURL(url.jdbcUrl());
    if (url.user() != null) {
      source.setUser(url.user());
    }
    if (url.password() != null) {
      source.setPassword(url.password());
    }
    String options = source.getOptions();
    source.setOptions((options == null || options.isBlank() ? "" : options + " ")
        + "-c lock_timeout=" + lockTimeout.toMillis());
    source.setConnectTimeout((int) CONNECT_TIMEOUT.toSeconds());
    source.setSocketTimeout((int) SOCKET_TIMEOUT.toSeconds());
    source.setTcpKeepAlive(true);
    source.setApplicationName("keyward-migrate");
    return source;
  }

  /**
   * A migration Flyway ran outside a transaction (CREATE INDEX CONCURRENTLY) is recorded as
   * failed when it fails, and Flyway refuses to go on until that row is gone. Only such a row of
   * ours is removed; the migration's SQL must be safe to run again (IF NOT EXISTS, or DROP first).
   */
  private static void forgetFailedAttempt(Flyway flyway) {
    try (var connection = flyway.getConfiguration().getDataSource().getConnection();
        var statement = connection.prepareStatement(
            "DELETE FROM keyward_schema_history WHERE NOT success")) {
      statement.executeUpdate();
    } catch (SQLException e) {
      if (!"42P01".equals(e.getSQLState())) { // no history table yet: nothing recorded
        LOG.warn("cannot clear a failed migration attempt: {}", e.toString());
      }
    }
  }

  private static SQLException sqlCause(Throwable e) {
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (cause instanceof SQLException sql) {
        return sql;
      }
    }
    return null;
  }

  private static String describe(DatabaseUrl url, FlywayException e, SQLException cause) {
    String where = url.toString();
    if (cause != null && cause.getSQLState() != null && cause.getSQLState().startsWith("08")) {
      return "cannot reach the database at " + where + ": " + ErrorText.firstLine(ErrorText.rootMessage(cause));
    }
    if (cause == null && rootCause(e) instanceof java.net.ConnectException) {
      return "cannot reach the database at " + where + ": " + ErrorText.firstLine(ErrorText.rootMessage(e));
    }
    if (cause != null && ("28P01".equals(cause.getSQLState()) || "28000".equals(cause.getSQLState()))) {
      return "the database at " + where + " refused the login: " + ErrorText.firstLine(cause.getMessage());
    }
    if (cause != null && "3D000".equals(cause.getSQLState())) {
      return "the database at " + where + " does not exist: " + ErrorText.firstLine(cause.getMessage());
    }
    return "schema migration failed on " + where + ": "
        + ErrorText.firstLine(cause != null ? cause.getMessage() : ErrorText.rootMessage(e));
  }

  private static Throwable rootCause(Throwable e) {
    Throwable cause = e;
    while (cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    return cause;
  }
}
