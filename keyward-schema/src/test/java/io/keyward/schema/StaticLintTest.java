package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.TestDatabase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The static lint: every rule with a migration that breaks it and one that does not, judged from
 * PostgreSQL's parse trees on a model of the schema without rows (the embedded PostgreSQL 17,
 * started once for the class), and what only the static half can see.
 */
class StaticLintTest {
  private static final String BASELINE = "CREATE TABLE accounts (id bigint PRIMARY KEY,"
      + " email text, plan text NOT NULL DEFAULT 'free', created timestamptz NOT NULL DEFAULT now());\n"
      + "CREATE SEQUENCE probe;\n"
      + "CREATE FUNCTION touch_accounts() RETURNS void LANGUAGE sql AS"
      + " $$ UPDATE accounts SET plan = plan $$;";

  private static ScratchDatabase server;

  @TempDir Path work;

  @BeforeAll
  static void startServer() {
    server = ScratchDatabase.create(null);
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  /** The static findings of {@code migration} on the baseline, with the runner's lock_timeout. */
  private List<Finding> lint(String migration, Duration runnerLockTimeout, ScratchDatabase model)
      throws IOException {
    Path dir = Files.createDirectories(work.resolve("m" + System.nanoTime()));
    Files.writeString(dir.resolve("V1__baseline.sql"), BASELINE);
    Files.writeString(dir.resolve("V2__change.sql"), migration);
    MigrationSet migrations = MigrationSet.directories(List.of(dir));
    List<MigrationSet.MigrationFile> pending = migrations.files(model.url()).stream()
        .filter(file -> !file.version().equals("1")).toList();
    return StaticLint.run(model, migrations, "1", pending, runnerLockTimeout)
        .get("V2__change.sql").findings();
  }

  private List<Finding> lint(String migration, Duration runnerLockTimeout) throws IOException {
    try (ScratchDatabase model = server.another()) {
      return lint(migration, runnerLockTimeout, model);
    }
  }

  private List<String> rules(String migration) throws IOException {
    return lint(migration, Duration.ofSeconds(5)).stream().map(Finding::rule).toList();
  }

  static Stream<Arguments> rules() {
    return Stream.of(
        Arguments.of("new-table-backfilled",
            "CREATE TABLE tokens (id bigint);\nINSERT INTO tokens SELECT id FROM accounts;",
            "CREATE TABLE tokens (id bigint);"),
        Arguments.of("data-in-ddl-transaction",
            // matches no row of any generated data: only the text shows the data change
            "ALTER TABLE accounts ADD COLUMN note text;\n"
                + "UPDATE accounts SET plan = 'pro' WHERE email = 'nobody';",
            "UPDATE accounts SET plan = 'pro' WHERE email = 'nobody';"),
        Arguments.of("statement-after-blocking-ddl",
            "ALTER TABLE accounts ADD COLUMN a text;\nALTER TABLE accounts ADD COLUMN b text;",
            "ALTER TABLE accounts ADD COLUMN a text, ADD COLUMN b text;"),
        Arguments.of("index-not-concurrent",
            "CREATE INDEX accounts_email_idx ON accounts (email);",
            "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);"),
        Arguments.of("concurrently-in-transaction",
            "BEGIN;\nCREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);\nCOMMIT;",
            "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);"),
        Arguments.of("mixed-transaction",
            "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan);\n"
                + "ALTER TABLE accounts ADD COLUMN z text;",
            "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan);"),
        Arguments.of("table-rewrite",
            "ALTER TABLE accounts ALTER COLUMN id TYPE numeric;",
            "ALTER TABLE accounts ADD COLUMN c text;"),
        Arguments.of("column-type-changed",
            "ALTER TABLE accounts ALTER COLUMN plan TYPE varchar(10);",
            "ALTER TABLE accounts ADD COLUMN tier varchar(10);"),
        Arguments.of("column-renamed",
            "ALTER TABLE accounts RENAME COLUMN email TO mail;",
            "ALTER TABLE accounts ADD COLUMN mail text;"),
        Arguments.of("column-dropped",
            "ALTER TABLE accounts DROP COLUMN email;",
            "CREATE TABLE t (a int);\nALTER TABLE t DROP COLUMN a;"),
        Arguments.of("table-renamed",
            "ALTER TABLE accounts RENAME TO customers;",
            "CREATE VIEW customers AS SELECT * FROM accounts;"),
        Arguments.of("table-dropped",
            "DROP TABLE accounts;",
            "CREATE TABLE accounts_archive (id bigint);\nDROP TABLE accounts_archive;"),
        Arguments.of("set-not-null",
            "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE accounts ADD CONSTRAINT email_present CHECK (email IS NOT NULL) NOT VALID;"),
        Arguments.of("constraint-validated-in-place",
            "ALTER TABLE accounts ADD CONSTRAINT self_fk FOREIGN KEY (id) REFERENCES accounts (id);",
            "ALTER TABLE accounts ADD CONSTRAINT self_fk FOREIGN KEY (id) REFERENCES accounts (id)"
                + " NOT VALID;"),
        Arguments.of("unique-built-in-place",
            "ALTER TABLE accounts ADD CONSTRAINT email_unique UNIQUE (email);",
            "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);"),
        Arguments.of("not-null-without-default",
            "ALTER TABLE accounts ADD COLUMN region text NOT NULL;",
            "ALTER TABLE accounts ADD COLUMN region text NOT NULL DEFAULT 'eu';"),
        Arguments.of("syntax-error",
            "ALTER TABLE accounts ADD COLUMN;",
            "ALTER TABLE accounts ADD COLUMN c text;"),
        Arguments.of("statement-fails",
            "ALTER TABLE accounts ADD COLUMN email text;",
            "ALTER TABLE accounts ADD COLUMN email2 text;"),
        Arguments.of("not-analysed",
            "DO $$ BEGIN EXECUTE 'CREATE TABLE made_in_do (id int)'; END $$;\n"
                + "INSERT INTO made_in_do VALUES (1);",
            "CREATE TABLE made (id int);\nINSERT INTO made VALUES (1);"),
        Arguments.of("prefer-timestamptz",
            "ALTER TABLE accounts ADD COLUMN seen timestamp;",
            "ALTER TABLE accounts ADD COLUMN seen timestamptz;"),
        Arguments.of("prefer-jsonb",
            "CREATE TABLE prefs (account bigint, doc json);",
            "CREATE TABLE prefs (account bigint, doc jsonb);"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rules")
  void eachRuleFindsItsBadExampleAndNotItsGoodOne(String rule, String bad, String good)
      throws IOException {
    assertThat(rules(bad)).as(bad).contains(rule);
    assertThat(rules(good)).as(good).doesNotContain(rule);
  }

  @Test
  void blockingLockWithoutATimeoutIsFoundUnlessTheFileOrTheRunnerSetsOne() throws IOException {
    String alter = "ALTER TABLE accounts ADD COLUMN a text;";

    assertThat(lint(alter, Duration.ZERO)).extracting(Finding::rule)
        .contains("blocking-lock-without-timeout");
    assertThat(lint("SET lock_timeout = '2s';\n" + alter, Duration.ZERO)).extracting(Finding::rule)
        .doesNotContain("blocking-lock-without-timeout");
    assertThat(lint("SET lock_timeout = '2s';\nRESET lock_timeout;\n" + alter, Duration.ZERO))
        .extracting(Finding::rule).contains("blocking-lock-without-timeout");
    assertThat(lint(alter, Duration.ofSeconds(5))).extracting(Finding::rule)
        .doesNotContain("blocking-lock-without-timeout");
  }

  @Test
  void volatileDefaultIsARewriteAndAConstantOneIsNot() throws IOException {
    assertThat(rules("ALTER TABLE accounts ADD COLUMN r float8 DEFAULT random();"))
        .contains("table-rewrite");
    assertThat(rules("ALTER TABLE accounts ADD COLUMN r float8 DEFAULT 0.5;"))
        .doesNotContain("table-rewrite");
  }

  @Test
  void codeInADdlTransactionIsADataChange() throws IOException {
    assertThat(rules("ALTER TABLE accounts ADD COLUMN n text;\n"
        + "DO $$ BEGIN UPDATE accounts SET n = email; END $$;"))
        .contains("data-in-ddl-transaction");
    assertThat(lint("ALTER TABLE accounts ADD COLUMN n text;\nSELECT touch_accounts();",
        Duration.ofSeconds(5))).anySatisfy(f -> {
          assertThat(f.rule()).isEqualTo("data-in-ddl-transaction");
          assertThat(f.line()).isEqualTo(2);
          assertThat(f.message()).contains("touch_accounts()");
        });
    assertThat(rules("CREATE TABLE tokens (id bigint);\nCOPY tokens FROM STDIN;"))
        .contains("new-table-backfilled");
    assertThat(rules("CREATE TABLE tokens AS SELECT id FROM accounts;"))
        .contains("new-table-backfilled");
  }

  @Test
  void safeShapesAreNotFlagged() throws IOException {
    // CREATE TABLE AS ... WITH NO DATA fills nothing; SET beside a concurrent build does not
    // make a file mixed; jsonb's ? operator is not a JDBC placeholder.
    assertThat(rules("CREATE TABLE tokens AS SELECT id FROM accounts WITH NO DATA;"))
        .doesNotContain("new-table-backfilled");
    assertThat(rules("SET statement_timeout = 0;\n"
        + "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan);"))
        .doesNotContain("mixed-transaction");
    assertThat(rules("CREATE TABLE docs (id bigint, doc jsonb CHECK (doc ? 'kind'));\n"
        + "CREATE INDEX docs_kind ON docs ((doc ?| array['a', 'b']));"))
        .doesNotContain("syntax-error", "statement-fails", "not-analysed");
    assertThat(rules("CREATE TABLE IF NOT EXISTS accounts (id bigint);\n"
        + "CREATE INDEX accounts_email_idx ON accounts (email);"))
        .as("IF NOT EXISTS on an existing table creates nothing").contains("index-not-concurrent");
  }

  @Test
  void aMigrationsOwnSettingsDoNotReachTheParser() throws IOException {
    assertThat(rules("SET client_min_messages = warning;\nRESET ALL;\nDISCARD ALL;\n"
        + "SET debug_print_parse = off;\nALTER TABLE accounts RENAME COLUMN email TO mail;"))
        .contains("column-renamed");
  }

  @Test
  void statementsAfterOneThatFailsAreStillJudged() throws IOException {
    List<Finding> findings = lint("ALTER TABLE accounts ADD COLUMN email text;\n"
        + "ALTER TABLE accounts RENAME COLUMN plan TO tier;", Duration.ofSeconds(5));

    assertThat(findings).anySatisfy(f -> {
      assertThat(f.rule()).isEqualTo("statement-fails");
      assertThat(f.line()).isEqualTo(1);
    });
    assertThat(findings).anySatisfy(f -> {
      assertThat(f.rule()).isEqualTo("column-renamed");
      assertThat(f.line()).isEqualTo(2);
      assertThat(f.message()).contains("accounts.plan").contains("tier");
    });
  }

  @Test
  void dataStatementsAreParsedButNeverRun() throws IOException, SQLException {
    try (ScratchDatabase model = server.another()) {
      List<Finding> findings = lint("ALTER TABLE accounts ADD COLUMN n bigint;\n"
          + "UPDATE accounts SET n = nextval('probe');\n"
          + "INSERT INTO accounts (id) VALUES (nextval('probe'));\n"
          + "DO $$ BEGIN PERFORM nextval('probe'); END $$;\n"
          + "SELECT nextval('probe');\n"
          + "CREATE TABLE copied AS SELECT nextval('probe') AS n;\n"
          + "SELECT nextval('probe') INTO selected;\n"
          + "CREATE MATERIALIZED VIEW counted AS SELECT nextval('probe') AS n;\n"
          + "CREATE ROLE keyward_static_lint_probe;", Duration.ofSeconds(5), model);

      assertThat(findings).filteredOn(f -> f.rule().equals("data-in-ddl-transaction"))
          .extracting(Finding::line).contains(2, 3, 4);
      try (Connection connection = model.connect(); Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT is_called FROM probe")) {
        rs.next();
        assertThat(rs.getBoolean(1)).as("a sequence is not transactional: any nextval shows")
            .isFalse();
      }
      try (Connection connection = model.connect(); Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT count(*) FROM pg_roles"
              + " WHERE rolname = 'keyward_static_lint_probe'")) {
        rs.next();
        assertThat(rs.getInt(1)).as("nothing reaches beyond the model's database").isZero();
      }
      try (Connection connection = model.connect(); Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT count(*) FROM information_schema.columns"
              + " WHERE table_name = 'accounts' AND column_name = 'n'")) {
        rs.next();
        assertThat(rs.getInt(1)).as("the schema change is applied to the model").isEqualTo(1);
      }
    }
  }

  @Test
  void bothHalvesTogetherKeepTheDynamicEvidenceOnTheStaticLine() throws IOException {
    Path dir = Files.createDirectories(work.resolve("both"));
    Files.writeString(dir.resolve("V1__baseline.sql"), BASELINE);
    Files.writeString(dir.resolve("V2__change.sql"), "SET lock_timeout = '2s';\n"
        + "ALTER TABLE accounts ADD COLUMN a text;\n"
        + "ALTER TABLE accounts ALTER COLUMN id TYPE numeric;");
    DatabaseUrl machine = new DatabaseUrl(TestDatabase.ADMIN_URL, null, null);

    LintCheck.Report report = LintCheck.run(new LintCheck.Request(
        MigrationSet.directories(List.of(dir)), "2", null, machine, 500, null,
        Duration.ofSeconds(5), LintCheck.Halves.BOTH));

    assertThat(report.findings()).filteredOn(f -> f.rule().equals("table-rewrite"))
        .singleElement().satisfies(f -> {
          assertThat(f.line()).isEqualTo(3);
          assertThat(f.message()).contains("(new relfilenode)"); // the dynamic half's words
        });
  }
}
