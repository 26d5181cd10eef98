package io.keyward.schema;

import io.keyward.schema.ContractChecker.Result;
import io.keyward.schema.ContractChecker.Stage;
import io.keyward.schema.QueryContract.ContractStatement;
import io.keyward.store.postgres.DatabaseUrl;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.flywaydb.core.api.MigrationVersion;
import org.jspecify.annotations.Nullable;

/**
 * {@code db compat}: does the previous release's query contract still work after these
 * migrations, and does this release's contract work on the schema before them?
 *
 * <p>On a scratch database: apply the baseline (the migrations below {@code from}), fill its
 * tables with generated rows (and a seed, if given), run both contracts there as the reference;
 * then apply each later migration in turn and run the previous contract again. A statement that
 * worked on the baseline and fails after a migration is a <em>break</em>, named with that
 * migration (incident I-3: the release that is still serving would fail). A statement of this
 * release's contract that works on the final schema but fails on the baseline is a
 * <em>rollback break</em>: this release cannot run on the schema before its migrations (rolling
 * back the migrations, or starting the code first, would fail).
 */
public final class CompatCheck {
  private CompatCheck() {}

  /** What to check. */
  public record Request(
      MigrationSet migrations,
      QueryContract previous,
      @Nullable QueryContract current,
      String fromVersion,
      @Nullable DatabaseUrl scratchServer,
      int rows,
      @Nullable String seedSql) {}

  /** Runs the check; the scratch database is dropped afterwards. */
  public static CompatReport run(Request request) {
    try (ScratchDatabase scratch = ScratchDatabase.create(request.scratchServer())) {
      return run(request, scratch);
    }
  }

  private static CompatReport run(Request request, ScratchDatabase scratch) {
    long started = System.nanoTime();
    List<CompatReport.Break> breaks = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    List<MigrationSet.Migration> all = request.migrations().list(scratch.url());
    MigrationVersion from = MigrationVersion.fromVersion(request.fromVersion());
    List<MigrationSet.Migration> baseline = new ArrayList<>();
    List<MigrationSet.Migration> pending = new ArrayList<>();
    for (MigrationSet.Migration migration : all) {
      (MigrationVersion.fromVersion(migration.version()).compareTo(from) < 0 ? baseline : pending)
          .add(migration);
    }
    try (Connection connection = scratch.connect()) {
      if (!baseline.isEmpty()) {
        request.migrations().migrateTo(scratch.url(), baseline.get(baseline.size() - 1).version());
      }
      if (request.seedSql() != null) {
        seed(connection, request.seedSql(), request.rows());
      }
      notes.addAll(RowFiller.fill(connection, request.rows(), "keyward_scratch_history"));
      List<Result> previousOnBaseline = ContractChecker.check(connection, request.previous());
      List<Result> currentOnBaseline = request.current() == null ? List.of()
          : ContractChecker.check(connection, request.current());
      noteOwnFailures(notes, "previous", request.previous(), previousOnBaseline, "the baseline");

      boolean[] broken = new boolean[request.previous().statements().size()];
      for (MigrationSet.Migration migration : pending) {
        try {
          request.migrations().migrateTo(scratch.url(), migration.version());
        } catch (IllegalStateException e) {
          breaks.add(new CompatReport.Break(CompatReport.Kind.MIGRATION_FAILS, 0, null,
              migration.script(), null, e.getMessage() + " (on a database with " + request.rows()
                  + " generated rows per table)"));
          return new CompatReport(breaks, notes, baseline.size(), pending, elapsedMillis(started));
        }
        List<Result> now = ContractChecker.check(connection, request.previous());
        for (int i = 0; i < now.size(); i++) {
          if (!broken[i] && isBreak(previousOnBaseline.get(i), now.get(i))) {
            broken[i] = true;
            ContractStatement statement = request.previous().statements().get(i);
            breaks.add(new CompatReport.Break(CompatReport.Kind.PREVIOUS_RELEASE_BREAKS, i + 1,
                statement, migration.script(), now.get(i).sqlState(), now.get(i).describe()));
          }
        }
      }
      if (request.current() != null) {
        List<Result> currentAtEnd = ContractChecker.check(connection, request.current());
        noteOwnFailures(notes, "this release's", request.current(), currentAtEnd,
            "the migrated schema");
        for (int i = 0; i < currentAtEnd.size(); i++) {
          if (isBreak(currentAtEnd.get(i), currentOnBaseline.get(i))) {
            ContractStatement statement = request.current().statements().get(i);
            if (statement.gated()) {
              notes.add("this release's statement " + (i + 1) + " (" + statement.summary()
                  + ") fails on the schema before the migrations, but runs behind a schema gate:"
                  + " its path stays off there");
              continue;
            }
            breaks.add(new CompatReport.Break(CompatReport.Kind.ROLLBACK_BREAKS, i + 1, statement,
                null, currentOnBaseline.get(i).sqlState(), currentOnBaseline.get(i).describe()));
          }
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("the scratch database failed: " + e.getMessage(), e);
    }
    return new CompatReport(breaks, notes, baseline.size(), pending, elapsedMillis(started));
  }

  /**
   * Whether a statement that gave {@code reference} now gives a worse {@code now}: it could be
   * prepared and cannot any more, or it ran and now fails. One that already failed to run with
   * the reference arguments is judged on preparing alone.
   */
  static boolean isBreak(Result reference, Result now) {
    return switch (reference.stage()) {
      case OK -> now.stage() != Stage.OK;
      case EXECUTE_FAILED -> now.stage() == Stage.PREPARE_FAILED;
      case PREPARE_FAILED -> false;
    };
  }

  private static void noteOwnFailures(List<String> notes, String which, QueryContract contract,
      List<Result> results, String schema) {
    for (int i = 0; i < results.size(); i++) {
      Result result = results.get(i);
      if (result.stage() == Stage.PREPARE_FAILED) {
        notes.add(which + " contract, statement " + (i + 1) + " ("
            + contract.statements().get(i).summary() + ") " + result.describe() + " on " + schema
            + ": it is not checked");
      } else if (result.stage() == Stage.EXECUTE_FAILED) {
        notes.add(which + " contract, statement " + (i + 1) + " ("
            + contract.statements().get(i).summary() + ") " + result.describe() + " on " + schema
            + " with generated arguments; only preparing it is checked (give '-- args:')");
      }
    }
  }

  private static void seed(Connection connection, String seedSql, int rows) throws SQLException {
    String text = seedSql.replace("${rows}", Integer.toString(rows));
    try (Statement statement = connection.createStatement()) {
      for (SqlScript.Statement each : SqlScript.split(text)) {
        statement.execute(each.sql());
      }
    }
  }

  private static long elapsedMillis(long started) {
    return (System.nanoTime() - started) / 1_000_000;
  }
}
