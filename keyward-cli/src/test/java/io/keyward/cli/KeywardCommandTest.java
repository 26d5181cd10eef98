package io.keyward.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.store.postgres.TestDatabase;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The keyward command: settings refused by name, and key administration against a real server. */
class KeywardCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static KeywardTestServer keyward;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  /** Runs the command; returns exit code, stdout and stderr. */
  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine command = KeywardCommand.commandLine();
    command.setOut(new PrintWriter(out, true));
    command.setErr(new PrintWriter(err, true));
    int code = command.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  private record Run(int code, String out, String err) {
    JsonNode json() throws Exception {
      return JSON.readTree(out);
    }
  }

  private static String[] keys(String... args) {
    List<String> all = new ArrayList<>(List.of("keys"));
    all.add(args[0]);
    all.addAll(List.of("--url", keyward.baseUri().toString(), "--root-key", keyward.rootKey()));
    all.addAll(List.of(args).subList(1, args.length));
    return all.toArray(String[]::new);
  }

  @Test
  void usageKeyShowsCountsAndUsageTailPrintsWhatIsPublishedOnNats() throws Exception {
    JsonNode created = JSON.readTree(run(keys("create", "--name", "u", "--owner", "cli-usage"))
        .out());
    String keyId = created.get("keyId").asText();
    Run usage = run("usage", "key", keyId, "--granularity", "day", "--url",
        keyward.baseUri().toString(), "--root-key", keyward.rootKey());
    assertThat(usage.code()).as(usage.err()).isZero();
    assertThat(usage.json().get("keyId").asText()).isEqualTo(keyId);
    assertThat(run("usage", "key", keyId, "--granularity", "week", "--url",
        keyward.baseUri().toString(), "--root-key", keyward.rootKey()).err()).contains("granularity");
    Run remove = run("usage", "remove", "nope", "--url", keyward.baseUri().toString(),
        "--root-key", keyward.rootKey());
    assertThat(remove.code()).isEqualTo(1);
    assertThat(remove.err()).contains("HTTP 404").contains("no exporter cursor named 'nope'");

    String subject = "kwcli." + Long.toHexString(System.nanoTime());
    String nats = System.getenv().getOrDefault("KEYWARD_TEST_NATS_URL", "nats://127.0.0.1:4222");
    var tail = java.util.concurrent.CompletableFuture.supplyAsync(() ->
        run("usage", "tail", "--nats", nats, "--subject", subject, "--count", "1",
            "--timeout-seconds", "10"));
    try (io.nats.client.Connection connection = io.nats.client.Nats.connect(nats)) {
      while (!tail.isDone()) { // until the subscriber is there and has printed it
        connection.publish(subject, "{\"id\":\"n:1:0\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        connection.flush(java.time.Duration.ofSeconds(1));
        Thread.sleep(100);
      }
    }
    assertThat(tail.get().code()).as(tail.get().err()).isZero();
    assertThat(tail.get().out().strip()).isEqualTo("{\"id\":\"n:1:0\"}");
    assertThat(run("usage", "tail", "--nats", "nats://127.0.0.1:1", "--count", "1").code())
        .isEqualTo(2);
  }

  @Test
  void nodesListsTheLiveNodesWithTheirRelease() throws Exception {
    Run nodes = run("nodes", "--url", keyward.baseUri().toString(), "--root-key", keyward.rootKey());

    assertThat(nodes.code()).as(nodes.err()).isZero();
    assertThat(nodes.json().toString()).contains(io.keyward.server.KeywardServer.RELEASE);
    assertThat(run("nodes", "--url", keyward.baseUri().toString(), "--root-key", "nope").code())
        .isEqualTo(1);
  }

  @Test
  void switchSetListAndHistoryShowTheChangeAndWhoMadeIt() throws Exception {
    String[] connect = {"--url", keyward.baseUri().toString(), "--root-key", keyward.rootKey()};
    List<String> set = new ArrayList<>(List.of("switch", "set", "cache.l2", "canary",
        "--canary-basis-points", "250", "--reason", "a quarter of a tenth"));
    set.addAll(List.of(connect));

    Run changed = run(set.toArray(String[]::new));
    List<String> list = new ArrayList<>(List.of("switch", "list"));
    list.addAll(List.of(connect));
    List<String> history = new ArrayList<>(List.of("switch", "history", "cache.l2"));
    history.addAll(List.of(connect));

    assertThat(changed.code()).as(changed.err()).isZero();
    assertThat(changed.json().get("stage").asText()).isEqualTo("canary");
    assertThat(run(list.toArray(String[]::new)).json().at("/switches/0/canaryBasisPoints").asInt())
        .isEqualTo(250);
    assertThat(run(history.toArray(String[]::new)).json().at("/history/0/reason").asText())
        .isEqualTo("a quarter of a tenth");
    List<String> bad = new ArrayList<>(List.of("switch", "set", "cache.l2", "sideways",
        "--reason", "x"));
    bad.addAll(List.of(connect));
    Run refused = run(bad.toArray(String[]::new));
    assertThat(refused.code()).isEqualTo(1);
    assertThat(refused.err()).contains("400").contains("stage");
  }

  @Test
  void badServeSettingsAreRefusedNamingTheSetting() {
    assertThat(run("serve", "--port", "70000").err())
        .isEqualTo("keyward: --port (KEYWARD_PORT) must be from 0 to 65535, got 70000\n");
    assertThat(run("serve", "--port", "http").err()).contains("--port");
    assertThat(run("serve", "--key-prefix", "KW").err())
        .contains("--key-prefix (KEYWARD_KEY_PREFIX): 'KW' is invalid");
    assertThat(run("serve", "--db-url", "mysql://h/db").err())
        .contains("--db-url/KEYWARD_DB_URL").contains("'mysql'");
    assertThat(run("serve", "--cache-stale-seconds", "1").err())
        .contains("--cache-stale-seconds (KEYWARD_CACHE_STALE_SECONDS) must be from 30");
    assertThat(run("serve", "--usage-nats-export", "events").err())
        .contains("--usage-nats-export is set, but --usage-nats is not");
    assertThat(run("serve", "--usage-nats", "nats://127.0.0.1:4222", "--usage-nats-export",
        "each").err()).contains("--usage-nats-export must be counts or events, got 'each'");
    assertThat(run("serve", "--usage-buffer-events", "0").err())
        .contains("--usage-buffer-events (KEYWARD_USAGE_BUFFER_EVENTS)");
    assertThat(run("serve", "--port", "70000").code()).isEqualTo(2);
  }

  @Test
  void keysCreateGetListRotateRevokeAgainstARunningServer() throws Exception {
    Run created = run(keys("create", "--name", "cli", "--owner", "cli-owner", "--scope", "read",
        "--meta", "{\"team\":\"core\"}"));
    assertThat(created.code()).as(created.err()).isZero();
    String keyId = created.json().get("keyId").asText();
    String secret = created.json().get("key").asText();

    Run got = run(keys("get", keyId));
    assertThat(got.json().get("name").asText()).isEqualTo("cli");
    assertThat(got.out()).doesNotContain(secret);

    Run listed = run(keys("list", "--owner", "cli-owner", "--limit", "10"));
    assertThat(listed.json().get("keys")).hasSize(1);

    Run rotated = run(keys("rotate", keyId, "--grace-seconds", "0"));
    assertThat(rotated.json().get("rotatedFrom").asText()).isEqualTo(keyId);

    Run revoked = run(keys("revoke", keyId));
    assertThat(revoked.json().get("revokedAt").isNull()).isFalse();
    assertThat(keyward.client().verify(secret, List.of()).body().get("code").asText())
        .isEqualTo("REVOKED");
  }

  @Test
  void keysImportTakesASha256() throws Exception {
    String sha = "a".repeat(64);

    Run imported = run(keys("import", "--sha256", sha, "--name", "legacy", "--owner", "o"));

    assertThat(imported.code()).as(imported.err()).isZero();
    assertThat(imported.json().get("origin").asText()).isEqualTo("imported");
  }

  @Test
  void httpErrorsExitNonZeroWithTheServersMessage() {
    Run missing = run(keys("get", "key_0000000000000000000000"));

    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("HTTP 404").contains("no key");
  }

  @Test
  void rootKeyIsReadFromTheDataDirectoryWhenNotGiven() throws Exception {
    Run listed = run("keys", "list", "--url", keyward.baseUri().toString(),
        "--data-dir", keyward.dataDir().toString(), "--limit", "1");

    assertThat(listed.code()).as(listed.err()).isZero();
    assertThat(listed.json().get("keys")).hasSize(1);
  }

  @Test
  void missingRootKeySaysWhereItLooked() {
    Run run = run("keys", "list", "--data-dir", "/nonexistent-keyward");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err()).contains("no root key").contains("/nonexistent-keyward/root.key");
  }

  @Test
  void migrateAppliesTheSchemaToAnExternalDatabase() {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      Run first = run("migrate", "--db-url", database.url().jdbcUrl());
      Run second = run("migrate", "--db-url", database.url().jdbcUrl());

      assertThat(first.out()).contains("applied 7 migration(s)");
      assertThat(second.out()).contains("applied 0 migration(s)");
    }
  }
}
