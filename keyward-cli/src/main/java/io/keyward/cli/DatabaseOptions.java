package io.keyward.cli;

import io.keyward.store.postgres.DatabaseUrl;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where the data and the database are; shared by serve and migrate. */
final class DatabaseOptions {
  @Option(names = "--data-dir", paramLabel = "DIR",
      defaultValue = "${env:KEYWARD_DATA_DIR:-keyward-data}",
      description = "Data directory: root.key and the embedded database (env KEYWARD_DATA_DIR; default: ${DEFAULT-VALUE}).")
  Path dataDir;

  @Option(names = "--db-url", paramLabel = "URL", defaultValue = "${env:KEYWARD_DB_URL}",
      description = "External PostgreSQL: jdbc:postgresql://... or postgres://user:pass@host/db"
          + " (env KEYWARD_DB_URL). Without it an embedded PostgreSQL runs in the data directory.")
  String dbUrl;

  /** The parsed URL, or null for the embedded database. */
  DatabaseUrl databaseUrl() {
    if (dbUrl == null || dbUrl.isBlank()) {
      return null;
    }
    try {
      return DatabaseUrl.parse(dbUrl);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--db-url/KEYWARD_DB_URL: " + e.getMessage());
    }
  }
}
