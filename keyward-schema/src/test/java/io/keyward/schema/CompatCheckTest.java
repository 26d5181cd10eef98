package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.TestDatabase;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code db compat} on the real PostgreSQL: incident I-3's shapes (a rename, a new required
 * column) are breaks named with statement, migration and error; the expand version keeps
 * release N working; and Keyward's own migrations keep its last release's contract.
 */
class CompatCheckTest {
  private static final DatabaseUrl SERVER = new DatabaseUrl(TestDatabase.ADMIN_URL, null, null);

  private static Path resource(String name) {
    try {
      return Path.of(CompatCheckTest.class.getResource("/" + name).toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static CompatReport check(String migrations, QueryContract current) {
    return CompatCheck.run(new CompatCheck.Request(
        MigrationSet.directories(List.of(resource("compat/" + migrations))),
        QueryContract.read(resource("compat/users-n.sql")), current, "2", SERVER, 100, null));
  }

  @Test
  void renamingAColumnTheServingReleaseReadsIsABreakNamingStatementMigrationAndError() {
    CompatReport report = check("rename", null);

    assertThat(report.exitCode()).isEqualTo(1);
    assertThat(report.breaks()).hasSize(2).allSatisfy(b -> {
      assertThat(b.kind()).isEqualTo(CompatReport.Kind.PREVIOUS_RELEASE_BREAKS);
      assertThat(b.migration()).isEqualTo("V2__rename_name.sql");
      assertThat(b.sqlState()).isEqualTo("42703");
    });
    assertThat(report.breaks().get(0).statement().line()).isEqualTo(3);
    assertThat(report.text()).contains("BREAK  previous release, statement 1 (line 3) after"
        + " V2__rename_name.sql").contains("column \"name\" does not exist");
  }

  @Test
  void expandKeepsTheServingReleaseWorkingButTheNewReleaseCannotRunOnTheOldSchema() {
    CompatReport report = check("expand", QueryContract.read(resource("compat/users-n1.sql")));

    assertThat(report.breaks()).singleElement().satisfies(b -> {
      assertThat(b.kind()).isEqualTo(CompatReport.Kind.ROLLBACK_BREAKS);
      assertThat(b.sqlState()).isEqualTo("42703");
    });
    assertThat(check("expand", null).exitCode()).isZero();
  }

  @Test
  void newRequiredColumnBreaksTheServingReleasesInsertWhenItRuns() {
    CompatReport report = check("required", null);

    assertThat(report.breaks()).singleElement().satisfies(b -> {
      assertThat(b.statementNumber()).isEqualTo(2);
      assertThat(b.sqlState()).isEqualTo("23502"); // prepares fine; fails only when executed
      assertThat(b.error()).startsWith("fails when run");
    });
  }

  @Test
  void migrationThatFailsOnADatabaseWithRowsIsReported() {
    CompatReport report = check("fails", null);

    assertThat(report.breaks()).singleElement().satisfies(b -> {
      assertThat(b.kind()).isEqualTo(CompatReport.Kind.MIGRATION_FAILS);
      assertThat(b.migration()).isEqualTo("V2__email_not_null.sql");
      assertThat(b.error()).contains("null values");
    });
  }

  @Test
  void keywardsOwnMigrationsKeepTheLastReleasesContractAndThisOneRunsOnTheirSchema() {
    QueryContract released = KeywardContracts.lastRelease();
    CompatReport report = CompatCheck.run(new CompatCheck.Request(MigrationSet.keyward(),
        released, KeywardContracts.current(4), "3", null, 1000, KeywardContracts.seed()));

    assertThat(released.schemaVersion()).hasValue(2);
    assertThat(released.statements()).hasSize(13);
    assertThat(report.breaks()).isEmpty();
    assertThat(report.checkedMigrations()).extracting(MigrationSet.Migration::version)
        .containsExactly("3", "4", "5", "6", "7");
    assertThat(report.notes()).noneMatch(note -> note.startsWith("previous"));
  }

  @Test
  void scratchServerUrlThatDoesNotNameItsDatabaseInAPathIsRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ScratchDatabase.create(
            new DatabaseUrl("jdbc:postgresql:appdb", null, null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jdbc:postgresql://host:port/database");
  }
}
