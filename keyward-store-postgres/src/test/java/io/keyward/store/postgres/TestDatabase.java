package io.keyward.store.postgres;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A scratch database on the machine's real PostgreSQL (127.0.0.1:5432, or {@code
 * KEYWARD_TEST_PG_URL}), created for one test class and dropped after. Also injects real faults:
 * refusing and killing connections.
 */
public final class TestDatabase implements AutoCloseable {
  /** The server's maintenance database, used to create and drop scratch databases. */
  public static final String ADMIN_URL = System.getenv().getOrDefault(
      "KEYWARD_TEST_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");

  private final String name;
  private final DatabaseUrl url;
  private HikariDataSource pool;

  private TestDatabase(String name, DatabaseUrl url) {
    this.name = name;
    this.url = url;
  }

  /** Creates an empty database (no schema). */
  public static TestDatabase createEmpty() {
    String name = "keyward_t_" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    admin("CREATE DATABASE " + name);
    String jdbc = ADMIN_URL.replaceFirst("/[^/?]+(\\?|$)", "/" + name + "$1");
    return new TestDatabase(name, new DatabaseUrl(jdbc, null, null));
  }

  /** Creates a database with Keyward's schema migrated in. */
  public static TestDatabase createMigrated() {
    TestDatabase database = createEmpty();
    Migrations.migrate(database.url());
    return database;
  }

  public String name() {
    return name;
  }

  public DatabaseUrl url() {
    return url;
  }

  /** A pool on this database, opened once, closed with it. */
  public synchronized HikariDataSource pool() {
    if (pool == null) {
      pool = ConnectionPool.open(url, 8);
    }
    return pool;
  }

  /** Runs SQL on this database over its own connection (not the pool's). */
  public void execute(String sql) {
    try (Connection connection = DriverManager.getConnection(url.jdbcUrl());
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /** The first column of the first row of a query on this database, as text (null if none). */
  public String queryForString(String sql) {
    try (Connection connection = DriverManager.getConnection(url.jdbcUrl());
        Statement statement = connection.createStatement();
        java.sql.ResultSet rs = statement.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    } catch (SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /**
   * A real outage: the database refuses new connections and every open one is killed. {@link
   * #restore()} ends it.
   */
  public void refuseAndKillConnections() {
    admin("ALTER DATABASE " + name + " WITH ALLOW_CONNECTIONS false");
    admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'");
  }

  /** Ends an outage started with {@link #refuseAndKillConnections()}. */
  public void restore() {
    admin("ALTER DATABASE " + name + " WITH ALLOW_CONNECTIONS true");
  }

  @Override
  public void close() {
    if (pool != null) {
      pool.close();
    }
    restore();
    admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }

  private static void admin(String sql) {
    try (Connection connection = DriverManager.getConnection(ADMIN_URL);
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(
          "test PostgreSQL at " + ADMIN_URL + " refused '" + sql.toLowerCase(Locale.ROOT) + "': "
              + e.getMessage(), e);
    }
  }
}
