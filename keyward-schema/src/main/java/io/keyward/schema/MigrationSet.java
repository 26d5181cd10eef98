package io.keyward.schema;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.ErrorText;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.MigrationVersion;
import org.flywaydb.core.api.configuration.FluentConfiguration;
import org.flywaydb.database.postgresql.PostgreSQLConfigurationExtension;

/**
 * A directory of Flyway-style migrations ({@code V<version>__<description>.sql}), Keyward's own
 * (on the class path) or any project's, applied to a scratch database one version at a time, the
 * way Flyway applies them in production.
 */
public final class MigrationSet {
  /** Keyward's own migrations. */
  public static final String KEYWARD = "classpath:db/migration";

  private final List<String> locations;

  private MigrationSet(List<String> locations) {
    this.locations = List.copyOf(locations);
  }

  /** Keyward's own migrations. */
  public static MigrationSet keyward() {
    return new MigrationSet(List.of(KEYWARD));
  }

  /**
   * The migrations in these directories.
   *
   * @throws IllegalArgumentException naming a path that is not a directory
   */
  public static MigrationSet directories(List<Path> directories) {
    List<String> locations = new ArrayList<>();
    for (Path directory : directories) {
      if (!Files.isDirectory(directory)) {
        throw new IllegalArgumentException(directory + " is not a directory of migrations");
      }
      locations.add("filesystem:" + directory.toAbsolutePath());
    }
    return new MigrationSet(locations);
  }

  /** One migration. */
  public record Migration(String version, String script) {
    @Override
    public String toString() {
      return script;
    }
  }

  /** A migration's file: its version, name and SQL text. */
  public record MigrationFile(String version, String script, String sql) {}

  /** The text of every versioned migration, in order (Flyway decides the order and versions). */
  public List<MigrationFile> files(DatabaseUrl database) {
    List<MigrationFile> files = new ArrayList<>();
    for (Migration migration : list(database)) {
      files.add(new MigrationFile(migration.version(), migration.script(), read(migration.script())));
    }
    return files;
  }

  private String read(String script) {
    for (String location : locations) {
      try {
        if (location.startsWith("filesystem:")) {
          Path file = Path.of(location.substring("filesystem:".length())).resolve(script);
          if (Files.isRegularFile(file)) {
            return Files.readString(file, java.nio.charset.StandardCharsets.UTF_8);
          }
        } else if (location.startsWith("classpath:")) {
          String resource = location.substring("classpath:".length()) + "/" + script;
          try (var in = MigrationSet.class.getClassLoader().getResourceAsStream(resource)) {
            if (in != null) {
              return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            }
          }
        }
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot read " + script + ": " + e.getMessage(), e);
      }
    }
    throw new IllegalStateException("cannot find the text of " + script);
  }

  /** Every versioned migration, in order. */
  public List<Migration> list(DatabaseUrl database) {
    List<Migration> all = new ArrayList<>();
    for (MigrationInfo info : flyway(database, null).info().all()) {
      if (info.getVersion() != null) {
        all.add(new Migration(info.getVersion().getVersion(), info.getScript()));
      }
    }
    return all;
  }

  /**
   * Applies the migrations up to and including {@code version}.
   *
   * @throws IllegalStateException in one line naming the migration that failed
   */
  public void migrateTo(DatabaseUrl database, String version) {
    try {
      flyway(database, version).migrate();
    } catch (FlywayException e) {
      throw new IllegalStateException("migration to version " + version + " failed: "
          + ErrorText.firstLine(ErrorText.rootMessage(e)), e);
    }
  }

  private Flyway flyway(DatabaseUrl database, String target) {
    FluentConfiguration configuration = Flyway.configure()
        .dataSource(database.jdbcUrl(), database.user(), database.password())
        .locations(locations.toArray(String[]::new))
        .table("keyward_scratch_history")
        .mixed(true)
        .validateMigrationNaming(true)
        .cleanDisabled(true);
    if (target != null) {
      configuration.target(MigrationVersion.fromVersion(target));
    }
    configuration.getConfigurationExtension(PostgreSQLConfigurationExtension.class)
        .setTransactionalLock(false);
    return configuration.load();
  }
}
