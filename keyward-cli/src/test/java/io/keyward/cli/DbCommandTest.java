package io.keyward.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.TestDatabase;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code keyward db compat} and {@code db contract} as a user runs them. */
class DbCommandTest {
  @TempDir Path work;

  private record Run(int code, String out, String err) {}

  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    var commandLine = KeywardCommand.commandLine();
    commandLine.setOut(new PrintWriter(out, true));
    commandLine.setErr(new PrintWriter(err, true));
    int code = commandLine.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void compatOfAnotherProjectsRenameExitsOneNamingTheBreak() throws Exception {
    Path migrations = Files.createDirectories(work.resolve("migrations"));
    Files.writeString(migrations.resolve("V1__create_users.sql"),
        "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n");
    Files.writeString(migrations.resolve("V2__rename.sql"),
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n");
    Path contract = work.resolve("contract.sql");
    Files.writeString(contract, "-- schema: 1\nSELECT name FROM users WHERE id = $1;\n");

    Run text = run("db", "compat", "--contract", contract.toString(), "--scratch-db",
        TestDatabase.ADMIN_URL, migrations.toString());
    Run json = run("db", "compat", "--contract", contract.toString(), "--scratch-db",
        TestDatabase.ADMIN_URL, "--format", "json", migrations.toString());

    assertThat(text.code()).as(text.err()).isEqualTo(1);
    assertThat(text.out()).contains("BREAK  previous release, statement 1 (line 2) after"
        + " V2__rename.sql").contains("42703");
    assertThat(json.out()).contains("\"kind\" : \"PREVIOUS_RELEASE_BREAKS\"")
        .contains("\"migration\" : \"V2__rename.sql\"");
  }

  @Test
  void compatOfKeywardsOwnMigrationsPasses() {
    Run run = run("db", "compat", "--scratch-db", TestDatabase.ADMIN_URL);

    assertThat(run.code()).as(run.err() + run.out()).isZero();
    assertThat(run.out()).contains("compatible: ");
  }

  @Test
  void usageErrorsExitTwoInOneLine() throws Exception {
    Path migrations = Files.createDirectories(work.resolve("m"));

    assertThat(run("db", "compat", migrations.toString()).err())
        .isEqualTo("keyward: --contract is required with PATH: the previous release's query"
            + " contract\n");
    assertThat(run("db", "compat", "--format", "yaml").code()).isEqualTo(2);
    assertThat(run("db", "compat", "--contract", work.resolve("none.sql").toString(),
        migrations.toString()).code()).isEqualTo(2);
  }

  @Test
  void contractCommandWritesThisBuildsStatementsWithGatesMarked() throws Exception {
    Path out = work.resolve("contract.sql");

    assertThat(run("db", "contract", "--schema", "4", "--out", out.toString()).code()).isZero();
    String text = Files.readString(out);
    assertThat(text).contains("-- schema: 4").contains("FROM api_keys WHERE key_hash = $1;")
        .contains("-- gated\nINSERT INTO keyward_nodes");
  }

  @Test
  void lintOfAnIncidentI1MigrationExitsOneWithFileLineRuleAndFixAndSarifForScanners()
      throws Exception {
    Path migrations = Files.createDirectories(work.resolve("lint"));
    Files.writeString(migrations.resolve("V1__accounts.sql"),
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n");
    Files.writeString(migrations.resolve("V2__tokens.sql"),
        "CREATE TABLE tokens (id bigint, account bigint);\n"
            + "INSERT INTO tokens SELECT id, id FROM accounts;\n");

    Run text = run("db", "lint", "--from", "2", "--rows", "500", "--scratch-db",
        TestDatabase.ADMIN_URL, migrations.toString());
    Run sarif = run("db", "lint", "--from", "2", "--rows", "500", "--scratch-db",
        TestDatabase.ADMIN_URL, "--format", "sarif", migrations.toString());
    Run good = run("db", "lint", "--from", "2", "--rows", "500", "--scratch-db",
        TestDatabase.ADMIN_URL, "--strict", migrations.resolveSibling("none").toString());

    assertThat(text.code()).as(text.err()).isEqualTo(1);
    assertThat(text.out()).contains("V2__tokens.sql:2 new-table-backfilled error writes 500 row(s)")
        .contains("fix: create the table in one migration");
    assertThat(sarif.out()).contains("\"version\" : \"2.1.0\"")
        .contains("\"ruleId\" : \"new-table-backfilled\"").contains("\"startLine\" : 2");
    assertThat(good.code()).isEqualTo(2); // not a directory: a usage error
  }

  @Test
  void lintOfKeywardsOwnMigrationsPassesWithItsAllowedFinding() {
    Run run = run("db", "lint", "--scratch-db", TestDatabase.ADMIN_URL);

    assertThat(run.code()).as(run.err() + run.out()).isZero();
    assertThat(run.out()).contains("0 error(s)").contains("1 allowed");
  }
}
