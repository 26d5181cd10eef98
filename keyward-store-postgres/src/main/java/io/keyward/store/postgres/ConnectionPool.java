package io.keyward.store.postgres;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.time.Duration;

/**
 * The JDBC connection pool (HikariCP) with timeouts that keep a slow or dead database from
 * holding verifications: a bounded wait for a connection and a statement timeout, so that the
 * verifier can fall back to its stale cache or answer 503 quickly.
 */
public final class ConnectionPool {
  /** How long to wait for a free or new connection. */
  public static final Duration CONNECTION_TIMEOUT = Duration.ofSeconds(2);
  /** Longest any statement from the pool may run. */
  public static final Duration STATEMENT_TIMEOUT = Duration.ofSeconds(3);

  private ConnectionPool() {}

  /** Opens a pool; fails at once, naming the URL (without password), if the database refuses. */
  public static HikariDataSource open(DatabaseUrl url, int maxConnections) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("keyward");
    config.setJdbcUrl(url.jdbcUrl());
    if (url.user() != null) {
      config.setUsername(url.user());
    }
    if (url.password() != null) {
      config.setPassword(url.password());
    }
    config.setMaximumPoolSize(maxConnections);
    config.setMinimumIdle(Math.min(2, maxConnections));
    config.setConnectionTimeout(CONNECTION_TIMEOUT.toMillis());
    config.setValidationTimeout(1_000);
    config.setInitializationFailTimeout(CONNECTION_TIMEOUT.toMillis());
    config.addDataSourceProperty("connectTimeout", "2");
    config.addDataSourceProperty("socketTimeout", "10");
    config.addDataSourceProperty("ApplicationName", "keyward");
    config.addDataSourceProperty("options", "-c statement_timeout=" + STATEMENT_TIMEOUT.toMillis());
    try {
      return new HikariDataSource(config);
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "cannot connect to the database at " + url.jdbcUrl().replaceAll("(?i)password=[^&]*", "password=***")
              + ": " + ErrorText.rootMessage(e), e);
    }
  }
}
