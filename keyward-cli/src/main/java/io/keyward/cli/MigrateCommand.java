package io.keyward.cli;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Applies pending schema migrations and exits. */
@Command(name = "migrate", mixinStandardHelpOptions = true,
    description = "Apply pending schema migrations to the database, then exit.")
final class MigrateCommand implements Callable<Integer> {
  @Mixin DatabaseOptions database;

  @Override
  public Integer call() {
    DatabaseUrl url = database.databaseUrl();
    if (url != null) {
      int applied = Migrations.migrate(url);
      System.out.println("applied " + applied + " migration(s)");
      return 0;
    }
    try (EmbeddedDatabase embedded = EmbeddedDatabase.start(database.dataDir)) {
      int applied = Migrations.migrate(embedded.url());
      System.out.println("applied " + applied + " migration(s) to the embedded database in "
          + embedded.directory());
    }
    return 0;
  }
}
