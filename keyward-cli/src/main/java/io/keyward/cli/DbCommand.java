package io.keyward.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.keyward.schema.CompatCheck;
import io.keyward.schema.CompatReport;
import io.keyward.schema.KeywardContracts;
import io.keyward.schema.LintCheck;
import io.keyward.schema.LintOutput;
import io.keyward.schema.MigrationSet;
import io.keyward.schema.QueryContract;
import io.keyward.store.postgres.DatabaseUrl;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Schema safety: {@code db compat}, {@code db contract}. */
@Command(name = "db", mixinStandardHelpOptions = true,
    description = "Schema safety for Keyward's migrations and any project's Flyway-style ones.",
    subcommands = {DbCommand.Lint.class, DbCommand.Compat.class, DbCommand.Contract.class})
final class DbCommand {

  /** Exit code when a check finds a problem (a usage error is 2). */
  static final int FOUND = 1;

  @Command(name = "compat", mixinStandardHelpOptions = true,
      description = {
          "Check that the previous release's query contract still works after the migrations from"
              + " --from (prepared and executed, rolled back, on a scratch PostgreSQL holding the"
              + " baseline and generated rows), and that this release's contract works on the"
              + " schema before them (a safe rollback).",
          "Without PATH: Keyward's own migrations, against the contract of its last release.",
          "Exit 0: compatible; 1: a break; 2: a usage error."})
  static final class Compat implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ScratchOptions scratch;

    @Parameters(paramLabel = "PATH", arity = "0..*",
        description = "Directories of Flyway-style migrations (V<version>__<name>.sql).")
    List<Path> paths = List.of();

    @Option(names = "--contract", paramLabel = "FILE",
        description = "The previous release's query contract: statements separated by semicolons,"
            + " $1..$n parameters (required with PATH).")
    Path contract;

    @Option(names = "--new-contract", paramLabel = "FILE",
        description = "This release's contract, checked against the schema before the migrations.")
    Path newContract;

    @Option(names = "--from", paramLabel = "VERSION",
        description = "The first migration to check; those below are the baseline (default: the"
            + " contract's '-- schema:' header plus one).")
    String from;


    @Option(names = "--rows", defaultValue = "1000",
        description = "Generated rows per table of the baseline (default: ${DEFAULT-VALUE}).")
    int rows;


    @Option(names = "--format", defaultValue = "text",
        description = "text or json (default: ${DEFAULT-VALUE}).")
    String format;

    @Override
    public Integer call() throws IOException {
      if (!format.equals("text") && !format.equals("json")) {
        throw new IllegalArgumentException("--format must be text or json, got '" + format + "'");
      }
      if (rows < 0 || rows > 10_000_000) {
        throw new IllegalArgumentException("--rows must be from 0 to 10000000, got " + rows);
      }
      boolean own = paths.isEmpty();
      QueryContract previous;
      if (contract != null) {
        previous = QueryContract.read(contract);
      } else if (own) {
        previous = KeywardContracts.lastRelease();
      } else {
        throw new IllegalArgumentException("--contract is required with PATH: the previous"
            + " release's query contract");
      }
      String fromVersion = from;
      if (fromVersion == null) {
        if (previous.schemaVersion().isEmpty()) {
          throw new IllegalArgumentException("--from is required: the contract has no"
              + " '-- schema: N' header saying which migrations its release shipped with");
        }
        fromVersion = Integer.toString(previous.schemaVersion().getAsInt() + 1);
      }
      QueryContract current = newContract != null ? QueryContract.read(newContract)
          : own ? KeywardContracts.current(0) : null;
      String seedSql = scratch.seedSql(own);
      DatabaseUrl server = scratch.server();
      MigrationSet migrations = own ? MigrationSet.keyward() : MigrationSet.directories(paths);
      CompatReport report = CompatCheck.run(new CompatCheck.Request(migrations, previous, current,
          fromVersion, server, rows, seedSql));
      PrintWriter out = spec.commandLine().getOut();
      if (format.equals("json")) {
        out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .writeValueAsString(report.json()));
      } else {
        out.print(report.text());
      }
      out.flush();
      return report.exitCode() == 0 ? 0 : FOUND;
    }
  }

  @Command(name = "lint", mixinStandardHelpOptions = true,
      description = {
          "Judge migrations twice. Statically: every statement is parsed by PostgreSQL's own"
              + " grammar (never executed) and judged from its text, with names resolved in a model"
              + " of the schema without rows. Dynamically: the migrations run on a scratch"
              + " PostgreSQL holding the baseline and generated rows, one statement at a time as"
              + " Flyway runs them. Both report what can take an API down: locks that block reads or writes of existing tables (and without"
              + " lock_timeout), statements run while such a lock is held, data changes in a DDL"
              + " transaction, a new table backfilled while invisible (incident I-1), rewrites,"
              + " non-concurrent index builds, constraints validated in place, renamed or dropped"
              + " columns and tables, and the previous release's queries that waited or failed"
              + " meanwhile.",
          "Without PATH: Keyward's own migrations after its last release.",
          "A finding is allowed with a comment '-- lint: allow <rule> <reason>' before its"
              + " statement (or on the file's first line); it is still reported, as allowed.",
          "Exit 0: no error (warnings fail only with --strict); 1: an error; 2: a usage error."})
  static final class Lint implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ScratchOptions scratch;

    @Parameters(paramLabel = "PATH", arity = "0..*",
        description = "Directories of Flyway-style migrations (V<version>__<name>.sql).")
    List<Path> paths = List.of();

    @Option(names = "--from", paramLabel = "VERSION",
        description = "The first migration judged; those below are the baseline, applied and not"
            + " judged (default with PATH: all; for Keyward's own: after its last release).")
    String from;

    @Option(names = "--contract", paramLabel = "FILE",
        description = "The previous release's query contract, replayed while each migration runs.")
    Path contract;


    @Option(names = "--rows", defaultValue = "10000",
        description = "Generated rows per table of the baseline (default: ${DEFAULT-VALUE}).")
    int rows;


    @Option(names = "--runner-lock-timeout-ms", paramLabel = "MS",
        description = "The lock_timeout your migration runner sets before each migration (default:"
            + " 0 with PATH, as Flyway alone sets none; 5000 for Keyward's own runner).")
    Long runnerLockTimeoutMs;

    @Option(names = "--format", defaultValue = "text",
        description = "text, json or sarif (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--strict", description = "Warnings fail too.")
    boolean strict;

    @Option(names = "--static-only",
        description = "Only the static check: no rows, no timing, no replay (faster).")
    boolean staticOnly;

    @Override
    public Integer call() throws IOException {
      if (!List.of("text", "json", "sarif").contains(format)) {
        throw new IllegalArgumentException("--format must be text, json or sarif, got '" + format + "'");
      }
      if (rows < 0 || rows > 10_000_000) {
        throw new IllegalArgumentException("--rows must be from 0 to 10000000, got " + rows);
      }
      boolean own = paths.isEmpty();
      QueryContract previous = contract != null ? QueryContract.read(contract)
          : own ? KeywardContracts.lastRelease() : null;
      String fromVersion = from != null ? from
          : own ? Integer.toString(KeywardContracts.lastRelease().schemaVersion().orElse(0) + 1)
          : "0";
      long lockTimeout = runnerLockTimeoutMs != null ? runnerLockTimeoutMs
          : own ? io.keyward.store.postgres.Migrations.LOCK_TIMEOUT.toMillis() : 0;
      if (lockTimeout < 0) {
        throw new IllegalArgumentException("--runner-lock-timeout-ms must not be negative");
      }
      String seedSql = scratch.seedSql(own);
      DatabaseUrl server = scratch.server();
      MigrationSet migrations = own ? MigrationSet.keyward() : MigrationSet.directories(paths);
      LintCheck.Report report = LintCheck.run(new LintCheck.Request(migrations, fromVersion,
          previous, server, rows, seedSql, java.time.Duration.ofMillis(lockTimeout),
          staticOnly ? LintCheck.Halves.STATIC : LintCheck.Halves.BOTH));
      PrintWriter out = spec.commandLine().getOut();
      ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
      switch (format) {
        case "json" -> out.println(json.writeValueAsString(LintOutput.json(report)));
        case "sarif" -> out.println(json.writeValueAsString(LintOutput.sarif(report,
            own ? "keyward-store-postgres/src/main/resources/db/migration/"
                : paths.get(0).toAbsolutePath().toUri().toString())));
        default -> out.print(LintOutput.text(report, strict));
      }
      out.flush();
      return report.findings().stream().anyMatch(f -> f.counts(strict)) ? FOUND : 0;
    }
  }

  @Command(name = "contract", mixinStandardHelpOptions = true,
      description = "Write this build's query contract (every SQL statement it issues) in the"
          + " contract file format, to keep with a release for later `db compat` runs.")
  static final class Contract implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--out", paramLabel = "FILE", description = "Write here (default: stdout).")
    Path out;

    @Option(names = "--schema", defaultValue = "0",
        description = "The schema version this release ships with, for the header.")
    int schema;

    @Override
    public Integer call() throws IOException {
      String text = KeywardContracts.current(schema).write("The query contract of Keyward "
          + io.keyward.server.KeywardServer.RELEASE);
      if (out == null) {
        spec.commandLine().getOut().print(text);
        spec.commandLine().getOut().flush();
      } else {
        Files.writeString(out, text, StandardCharsets.UTF_8);
      }
      return 0;
    }
  }

  /** Where db lint and db compat make their scratch database, and what they seed it with. */
  static final class ScratchOptions {
    @Option(names = "--scratch-db", paramLabel = "URL", defaultValue = "${env:KEYWARD_SCRATCH_DB}",
        description = "A PostgreSQL server (a superuser for db lint: it installs an event trigger)"
            + " to create and drop the scratch database on (env KEYWARD_SCRATCH_DB); default: an"
            + " embedded one.")
    String scratchDb;

    @Option(names = "--seed", paramLabel = "FILE",
        description = "SQL run on the baseline before rows are generated (${rows} is --rows);"
            + " tables it fills are not generated.")
    Path seed;

    /** The scratch server, or null for the embedded one. */
    DatabaseUrl server() {
      if (scratchDb == null || scratchDb.isBlank()) {
        return null;
      }
      try {
        return DatabaseUrl.parse(scratchDb);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--scratch-db/KEYWARD_SCRATCH_DB: " + e.getMessage());
      }
    }

    /** The seed to run: the file given, Keyward's own for its own migrations, or none. */
    String seedSql(boolean own) throws IOException {
      return seed != null ? Files.readString(seed, StandardCharsets.UTF_8)
          : own ? KeywardContracts.seed() : null;
    }
  }
}
