package io.keyward.schema;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * An empty database to apply migrations to and break things in: created on a PostgreSQL server
 * given by URL ({@code --scratch-db}; the URL's database is only used to create and drop it), or,
 * without one, on an embedded PostgreSQL started in a temporary directory. Closing drops it (and
 * stops the embedded server).
 */
public final class ScratchDatabase implements AutoCloseable {
  private final DatabaseUrl server;
  private final DatabaseUrl url;
  private final String name;
  private final @Nullable EmbeddedDatabase embedded;
  private final @Nullable Path embeddedDir;

  private ScratchDatabase(DatabaseUrl server, String name, @Nullable EmbeddedDatabase embedded,
      @Nullable Path embeddedDir) {
    this.server = server;
    this.name = name;
    this.embedded = embedded;
    this.embeddedDir = embeddedDir;
    String jdbc = server.jdbcUrl().replaceFirst("/[^/?]*(\\?|$)", "/" + name + "$1");
    this.url = new DatabaseUrl(jdbc, server.user(), server.password());
  }

  /** Refuses a server URL that does not name its database in a path the scratch one can replace. */
  private static void requireDatabaseInPath(DatabaseUrl server) {
    if (!server.jdbcUrl().matches("jdbc:postgresql://[^/]+/[^/?]*(\\?.*)?")) {
      throw new IllegalArgumentException("the scratch server URL must have the form"
          + " jdbc:postgresql://host:port/database (the database is only used to create and drop"
          + " the scratch one): " + server);
    }
  }

  /**
   * Creates a scratch database on {@code server}, or on an embedded PostgreSQL if it is null.
   *
   * @throws IllegalStateException in one line when the server cannot be used
   */
  public static ScratchDatabase create(@Nullable DatabaseUrl server) {
    if (server != null) {
      requireDatabaseInPath(server);
    }
    EmbeddedDatabase embedded = null;
    Path dir = null;
    if (server == null) {
      try {
        dir = Files.createTempDirectory("keyward-scratch");
      } catch (IOException e) {
        throw new UncheckedIOException("cannot make a directory for the scratch PostgreSQL: " + e, e);
      }
      embedded = EmbeddedDatabase.start(dir);
      server = embedded.url();
    }
    String name = "keyward_scratch_"
        + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    try {
      admin(server, "CREATE DATABASE " + name);
    } catch (RuntimeException e) {
      if (embedded != null) {
        embedded.close();
        deleteRecursively(dir);
      }
      throw e;
    }
    return new ScratchDatabase(server, name, embedded, dir);
  }

  /**
   * Another scratch database on the same server, dropped when it is closed (the server stays up
   * until this one is closed).
   */
  public ScratchDatabase another() {
    String other = "keyward_scratch_"
        + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    admin(server, "CREATE DATABASE " + other);
    return new ScratchDatabase(server, other, null, null);
  }

  /** The server's {@code server_version_num} (170011 for 17.11). */
  public int serverVersion() {
    try (Connection connection = connect(); Statement statement = connection.createStatement();
        java.sql.ResultSet rs = statement.executeQuery("SHOW server_version_num")) {
      rs.next();
      return Integer.parseInt(rs.getString(1));
    } catch (SQLException e) {
      throw new IllegalStateException("the scratch PostgreSQL at " + server + " did not say its"
          + " version: " + e.getMessage(), e);
    }
  }

  /** Where the scratch database is. */
  public DatabaseUrl url() {
    return url;
  }

  /** A new connection to the scratch database (checked to be the scratch database). */
  public Connection connect() throws SQLException {
    return connect(null);
  }

  /**
   * A new connection to the scratch database with server {@code options} (such as {@code -c
   * lock_timeout=5000}, in effect from the start, so {@code RESET} returns to them).
   */
  public Connection connect(@Nullable String options) throws SQLException {
    java.util.Properties properties = new java.util.Properties();
    if (url.user() != null) {
      properties.setProperty("user", url.user());
    }
    if (url.password() != null) {
      properties.setProperty("password", url.password());
    }
    if (options != null) {
      properties.setProperty("options", options);
    }
    Connection connection = DriverManager.getConnection(url.jdbcUrl(), properties);
    try (Statement statement = connection.createStatement();
        java.sql.ResultSet rs = statement.executeQuery("SELECT current_database()")) {
      rs.next();
      if (!name.equals(rs.getString(1))) {
        connection.close();
        throw new IllegalStateException("connected to " + rs.getString(1) + ", not to the scratch"
            + " database " + name + ": refusing to go on");
      }
    }
    return connection;
  }

  @Override
  public void close() {
    try {
      admin(server, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (IllegalStateException e) {
      // The check's result stands; a scratch database left behind is named for its owner.
      org.slf4j.LoggerFactory.getLogger(ScratchDatabase.class)
          .warn("could not drop the scratch database {}: {}", name, e.getMessage());
    } finally {
      if (embedded != null) {
        embedded.close();
        deleteRecursively(embeddedDir);
      }
    }
  }

  private static void admin(DatabaseUrl server, String sql) {
    try (Connection connection = DriverManager.getConnection(server.jdbcUrl(), server.user(),
            server.password());
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException("the scratch PostgreSQL at " + server + " refused '" + sql
          + "': " + e.getMessage(), e);
    }
  }

  private static void deleteRecursively(@Nullable Path dir) {
    if (dir == null) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      // a leftover temporary directory is harmless
    }
  }
}
