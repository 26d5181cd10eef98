package io.keyward.cli;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import io.keyward.schema.ContractGate;

/** Applies pending schema migrations and exits. */
@Command(name = "migrate", mixinStandardHelpOptions = true,
    description = "Apply pending schema migrations to the database, then exit.")
final class MigrateCommand implements Callable<Integer> {
  @Mixin DatabaseOptions database;
  @Spec CommandSpec spec;

  @Option(names = "--allow-breaking-migration", paramLabel = "REASON",
      description = "Apply migrations even if they break the query contract of a live node (the"
          + " reason is recorded in keyward_migration_overrides). Without it such a migration is"
          + " rolled back and named.")
  String overrideReason;

  @Override
  public Integer call() {
    if (overrideReason != null && overrideReason.isBlank()) {
      throw new IllegalArgumentException("--allow-breaking-migration needs a reason");
    }
    DatabaseUrl url = database.databaseUrl();
    if (url != null) {
      int applied = Migrations.migrate(url, ContractGate.forDatabase(url, overrideReason));
      spec.commandLine().getOut().println("applied " + applied + " migration(s)");
      runBackfills(url);
      spec.commandLine().getOut().flush();
      return 0;
    }
    try (EmbeddedDatabase embedded = EmbeddedDatabase.start(database.dataDir)) {
      int applied = Migrations.migrate(embedded.url(),
          ContractGate.forDatabase(embedded.url(), overrideReason));
      runBackfills(embedded.url());
      spec.commandLine().getOut().println("applied " + applied
          + " migration(s) to the embedded database in " + embedded.directory());
      spec.commandLine().getOut().flush();
    }
    return 0;
  }

  /** The data migrations, in batches outside any DDL transaction, with progress printed. */
  private void runBackfills(DatabaseUrl url) {
    if (io.keyward.store.postgres.KeywardBackfills.ALL.isEmpty()) {
      return;
    }
    try (var pool = io.keyward.store.postgres.ConnectionPool.open(url, 2)) {
      var out = spec.commandLine().getOut();
      new io.keyward.store.postgres.BackfillRunner(pool,
          io.keyward.store.postgres.BackfillRunner.Settings.DEFAULTS)
          .runAll(io.keyward.store.postgres.KeywardBackfills.ALL, step -> {
            if (step.done() || step.batches() % 10 == 0) {
              out.println("backfill " + step.name() + ": " + step.rowsDone() + " row(s) in "
                  + step.batches() + " batch(es)" + (step.done() ? ", done" : ""));
              out.flush();
            }
          });
    }
  }
}
