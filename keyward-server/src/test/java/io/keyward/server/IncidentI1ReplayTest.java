package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.schema.LintCheck;
import io.keyward.schema.MigrationSet;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.Eventually;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Incident I-1 replayed on the real PostgreSQL with traffic over HTTP the whole time: release
 * N+1's node registry (a path that reads new tables, behind a schema gate) meets a migration that
 * creates those tables and backfills one in the same long transaction. Nothing answers other
 * than 200, no key is denied, the registry stays off until the commit and turns on after; and
 * {@code db lint} rejects that migration and accepts the split version.
 */
class IncidentI1ReplayTest {
  @TempDir Path work;

  private static String resource(String name) throws IOException {
    try (InputStream in = IncidentI1ReplayTest.class.getClassLoader().getResourceAsStream(name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void createAndBackfillInOneTransactionNeverFailsARequestAndTheGateOpensAfterCommit()
      throws Exception {
    TestDatabase database = TestDatabase.createEmpty();
    MigrationSet.keyward().migrateTo(database.url(), "3"); // release N's schema
    try (KeywardTestServer keyward = KeywardTestServer.startOn(database,
        settings -> settings.withMigrateOnStart(false))) {
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        keys.add(keyward.client().createKey(Map.of("name", "n" + i, "ownerId", "o")).body()
            .get("key").asText());
      }
      assertThat(keyward.client().send("GET", "/v1/nodes", null).body().get("nodes")).isEmpty();
      AtomicBoolean running = new AtomicBoolean(true);
      AtomicInteger answered = new AtomicInteger();
      List<String> failures = Collections.synchronizedList(new ArrayList<>());
      Thread traffic = Thread.ofVirtual().start(() -> {
        for (int i = 0; running.get(); i++) {
          keyward.clock().advance(Duration.ofSeconds(1)); // keys go past fresh: store lookups too
          Response verify = keyward.client().verify(keys.get(i % keys.size()), List.of());
          Response nodes = keyward.client().send("GET", "/v1/nodes", null);
          answered.addAndGet(2);
          if (verify.status() != 200 || !"VALID".equals(verify.body().path("code").asText())) {
            failures.add("verify " + verify.status() + " " + verify.body());
          }
          if (nodes.status() != 200) {
            failures.add("nodes " + nodes.status() + " " + nodes.body());
          }
        }
      });
      Eventually.await(() -> answered.get() > 20);

      int migrationStarted = answered.get();
      try (Connection migration = DriverManager.getConnection(database.url().jdbcUrl())) {
        migration.setAutoCommit(false);
        try (Statement statement = migration.createStatement()) {
          for (var each : io.keyward.schema.SqlScript.split(resource("db/i1/forced.sql"))) {
            statement.execute(each.sql());
          }
        }
        assertThat(answered.get()).isGreaterThan(migrationStarted); // served while it ran
        assertThat(keyward.client().send("GET", "/v1/nodes", null).body().get("nodes")).isEmpty();
        migration.commit();
      }
      Eventually.await(() -> keyward.client().send("GET", "/v1/nodes", null).body().get("nodes")
          .size() == 1);

      running.set(false);
      traffic.join();
      assertThat(failures).isEmpty();
    }
  }

  @Test
  void lintRejectsTheForcedMigrationAndAcceptsTheSplitVersion() throws Exception {
    Path forced = Files.createDirectories(work.resolve("forced"));
    Path split = Files.createDirectories(work.resolve("split"));
    for (String name : List.of("V1__create_api_keys.sql", "V2__create_keyward_secrets.sql",
        "V3__index_api_keys_rotated_from.sql")) {
      Files.writeString(forced.resolve(name), resource("db/migration/" + name));
      Files.writeString(split.resolve(name), resource("db/migration/" + name));
    }
    String forcedSql = resource("db/i1/forced.sql").replace("200000", "20000")
        .replace("SELECT pg_sleep(2);", "");
    Files.writeString(forced.resolve("V4__nodes_with_backfill.sql"), forcedSql);
    int insert = forcedSql.indexOf("INSERT INTO keyward_nodes");
    Files.writeString(split.resolve("V4__nodes.sql"), forcedSql.substring(0, insert));
    Files.writeString(split.resolve("V5__backfill_nodes.sql"), forcedSql.substring(insert));
    DatabaseUrl server = new DatabaseUrl(TestDatabase.ADMIN_URL, null, null);

    LintCheck.Report rejected = LintCheck.run(new LintCheck.Request(
        MigrationSet.directories(List.of(forced)), "4", null, server, 100,
        io.keyward.schema.KeywardContracts.seed(), Duration.ofSeconds(5)));
    LintCheck.Report accepted = LintCheck.run(new LintCheck.Request(
        MigrationSet.directories(List.of(split)), "4", null, server, 100,
        io.keyward.schema.KeywardContracts.seed(), Duration.ofSeconds(5)));

    assertThat(rejected.findings()).anySatisfy(f -> {
      assertThat(f.rule()).isEqualTo("new-table-backfilled");
      assertThat(f.file()).isEqualTo("V4__nodes_with_backfill.sql");
    });
    assertThat(accepted.findings()).filteredOn(f -> f.counts(false)).isEmpty();
  }
}
