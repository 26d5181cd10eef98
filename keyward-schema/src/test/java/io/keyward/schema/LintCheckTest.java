package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.TestDatabase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The dynamic lint on the real PostgreSQL, alone (the static half has its own test): every rule
 * with a migration that breaks it and one that does not, judged from what PostgreSQL did (locks,
 * rows written, rewrites, catalog). The last test runs both halves on Keyward's own migrations.
 */
class LintCheckTest {
  private static final DatabaseUrl SERVER = new DatabaseUrl(TestDatabase.ADMIN_URL, null, null);
  private static final String BASELINE = "CREATE TABLE accounts (id bigint PRIMARY KEY,"
      + " email text, plan text NOT NULL DEFAULT 'free', created timestamptz NOT NULL DEFAULT now());";
  /** Rows with no NULL email, so that SET NOT NULL and UNIQUE can succeed. */
  private static final String SEED = "INSERT INTO accounts (id, email) SELECT g, 'e' || g"
      + " FROM generate_series(1, ${rows}) g;";

  @TempDir Path work;

  private LintCheck.Report lint(String migration, Duration runnerLockTimeout,
      QueryContract previous) throws IOException {
    Path dir = Files.createDirectories(work.resolve("m" + System.nanoTime()));
    Files.writeString(dir.resolve("V1__baseline.sql"), BASELINE);
    Files.writeString(dir.resolve("V2__change.sql"), migration);
    return LintCheck.run(new LintCheck.Request(MigrationSet.directories(List.of(dir)), "2",
        previous, SERVER, 2000, SEED, runnerLockTimeout, LintCheck.Halves.DYNAMIC));
  }

  private List<String> rules(String migration) throws IOException {
    return lint(migration, Duration.ofSeconds(5), null).findings().stream()
        .map(Finding::rule).toList();
  }

  static Stream<Arguments> rules() {
    return Stream.of(
        Arguments.of("new-table-backfilled",
            "CREATE TABLE tokens (id bigint, account bigint);\n"
                + "INSERT INTO tokens SELECT id, id FROM accounts;",
            "CREATE TABLE tokens (id bigint, account bigint);"),
        Arguments.of("data-in-ddl-transaction",
            "ALTER TABLE accounts ADD COLUMN note text;\nUPDATE accounts SET plan = 'pro' WHERE id < 10;",
            "UPDATE accounts SET plan = 'pro' WHERE id < 10;"),
        Arguments.of("statement-after-blocking-ddl",
            "ALTER TABLE accounts ADD COLUMN a text;\nALTER TABLE accounts ADD COLUMN b text;",
            "ALTER TABLE accounts ADD COLUMN a text, ADD COLUMN b text;"),
        Arguments.of("index-not-concurrent",
            "CREATE INDEX accounts_email_idx ON accounts (email);",
            "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);"),
        Arguments.of("table-rewrite",
            "ALTER TABLE accounts ALTER COLUMN id TYPE numeric;",
            "ALTER TABLE accounts ADD COLUMN c text;"),
        Arguments.of("column-renamed",
            "ALTER TABLE accounts RENAME COLUMN email TO mail;",
            "ALTER TABLE accounts ADD COLUMN mail text;"),
        Arguments.of("column-dropped",
            "ALTER TABLE accounts DROP COLUMN email;",
            "ALTER TABLE accounts ADD COLUMN mail text;"),
        Arguments.of("table-renamed",
            "ALTER TABLE accounts RENAME TO customers;",
            "CREATE VIEW customers AS SELECT * FROM accounts;"),
        Arguments.of("table-dropped",
            "DROP TABLE accounts;",
            "CREATE TABLE accounts_archive (id bigint);"),
        Arguments.of("set-not-null",
            "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE accounts ADD CONSTRAINT email_present CHECK (email IS NOT NULL) NOT VALID;"),
        Arguments.of("constraint-validated-in-place",
            "ALTER TABLE accounts ADD CONSTRAINT plan_named CHECK (plan <> '');",
            "ALTER TABLE accounts ADD CONSTRAINT plan_named CHECK (plan <> '') NOT VALID;"),
        Arguments.of("unique-built-in-place",
            "ALTER TABLE accounts ADD CONSTRAINT email_unique UNIQUE (email);",
            "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);"),
        Arguments.of("statement-fails",
            "ALTER TABLE accounts ADD COLUMN;",
            "ALTER TABLE accounts ADD COLUMN c text;"),
        Arguments.of("mixed-transaction",
            "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan);\n"
                + "ALTER TABLE accounts ADD COLUMN z text;",
            "CREATE INDEX CONCURRENTLY accounts_plan_idx ON accounts (plan);"),
        Arguments.of("prefer-timestamptz",
            "ALTER TABLE accounts ADD COLUMN seen timestamp;",
            "ALTER TABLE accounts ADD COLUMN seen timestamptz;"),
        Arguments.of("prefer-jsonb",
            "ALTER TABLE accounts ADD COLUMN prefs json;",
            "ALTER TABLE accounts ADD COLUMN prefs jsonb;"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rules")
  void eachRuleFindsItsBadExampleAndNotItsGoodOne(String rule, String bad, String good)
      throws IOException {
    assertThat(rules(bad)).as(bad).contains(rule);
    assertThat(rules(good)).as(good).doesNotContain(rule);
  }

  @Test
  void renamingATableIsNotTakenForWritingIntoIt() throws IOException {
    // The backend's unflushed row counts follow the table, not its name (found by the corpus).
    assertThat(rules("ALTER TABLE accounts RENAME TO customers;"))
        .contains("table-renamed").doesNotContain("data-in-ddl-transaction");
  }

  @Test
  void blockingLockWithoutATimeoutIsFoundUnlessTheFileOrTheRunnerSetsOne() throws IOException {
    String alter = "ALTER TABLE accounts ADD COLUMN a text;";

    assertThat(lint(alter, Duration.ZERO, null).findings()).extracting(Finding::rule)
        .contains("blocking-lock-without-timeout");
    assertThat(lint("SET lock_timeout = '2s';\n" + alter, Duration.ZERO, null).findings())
        .extracting(Finding::rule).doesNotContain("blocking-lock-without-timeout");
    assertThat(lint(alter, Duration.ofSeconds(5), null).findings()).extracting(Finding::rule)
        .doesNotContain("blocking-lock-without-timeout");
  }

  @Test
  void incidentI1CreateAndBackfillReportsTheInvisibleTableWithFileAndLine() throws IOException {
    LintCheck.Report report = lint("-- I-1's shape\nCREATE TABLE tokens (id bigint, account bigint);\n"
        + "INSERT INTO tokens SELECT id, id FROM accounts;\n", Duration.ofSeconds(5), null);

    assertThat(report.findings()).anySatisfy(f -> {
      assertThat(f.rule()).isEqualTo("new-table-backfilled");
      assertThat(f.file()).isEqualTo("V2__change.sql");
      assertThat(f.line()).isEqualTo(3);
      assertThat(f.message()).contains("2000 row(s) into tokens").contains("invisible");
    });
    assertThat(report.findings()).anySatisfy(f -> assertThat(f.message())
        .contains("stayed invisible to other connections for"));
  }

  @Test
  void previousReleaseThatWaitsOnTheMigrationIsReportedWithHowLong() throws IOException {
    QueryContract previous = QueryContract.parse("SELECT id, email FROM accounts WHERE id = $1;");

    LintCheck.Report report = lint("ALTER TABLE accounts ADD COLUMN a text;\nSELECT pg_sleep(1.5);",
        Duration.ofSeconds(5), previous);

    assertThat(report.findings()).anySatisfy(f -> {
      assertThat(f.rule()).isEqualTo("previous-release-blocked");
      assertThat(f.message()).contains("SELECT id, email FROM accounts").contains("waited");
    });
  }

  @Test
  void allowCommentKeepsTheFindingButMarksItAllowedWithItsReason() throws IOException {
    LintCheck.Report report = lint("-- lint: allow index-not-concurrent the table has 40 rows\n"
        + "CREATE INDEX accounts_email_idx ON accounts (email);", Duration.ofSeconds(5), null);

    assertThat(report.findings()).filteredOn(f -> f.rule().equals("index-not-concurrent"))
        .singleElement().satisfies(f -> {
          assertThat(f.allowedBecause()).isEqualTo("the table has 40 rows");
          assertThat(f.counts(true)).isFalse();
        });
  }

  @Test
  void keywardsOwnMigrationsAfterTheLastReleaseAreClean() {
    LintCheck.Report report = LintCheck.run(new LintCheck.Request(MigrationSet.keyward(), "3",
        KeywardContracts.lastRelease(), SERVER, 1000, KeywardContracts.seed(), Duration.ofSeconds(5)));

    assertThat(report.checkedFiles()).containsExactly("V3__index_api_keys_rotated_from.sql",
        "V4__create_keyward_nodes.sql", "V5__create_keyward_backfills.sql",
        "V6__create_keyward_switches.sql", "V7__create_keyward_usage.sql");
    assertThat(report.findings()).filteredOn(f -> f.counts(false)).isEmpty();
  }
}
