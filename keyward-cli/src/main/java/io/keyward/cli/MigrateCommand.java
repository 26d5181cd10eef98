package io.keyward.cli;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Applies pending schema migrations and exits. */
@Command(name = "migrate", mixinStandardHelpOptions = true,
    description = "Apply pending schema migrations to the database, then exit.")
final class MigrateCommand implements Callable<Integer> {
  @Mixin DatabaseOptions database;
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    DatabaseUrl url = database.databaseUrl();
    if (url != null) {
      int applied = Migrations.migrate(url);
      spec.commandLine().getOut().println("applied " + applied + " migration(s)");
      spec.commandLine().getOut().flush();
      return 0;
    }
    try (EmbeddedDatabase embedded = EmbeddedDatabase.start(database.dataDir)) {
      int applied = Migrations.migrate(embedded.url());
      spec.commandLine().getOut().println("applied " + applied
          + " migration(s) to the embedded database in " + embedded.directory());
      spec.commandLine().getOut().flush();
    }
    return 0;
  }
}
