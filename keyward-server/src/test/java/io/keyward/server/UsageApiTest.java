package io.keyward.server;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Usage over HTTP on a real server and PostgreSQL: counts, last use, and bad queries. */
class UsageApiTest {
  private static KeywardTestServer keyward;
  private static KeywardClient client;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start(settings -> settings.withUsage(
        UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(100))));
    client = keyward.client();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  private static JsonNode create(String owner) {
    return client.createKey(Map.of("name", "k", "ownerId", owner, "scopes", List.of("read")))
        .body();
  }

  private static long count(JsonNode usage, String outcome) {
    long total = 0;
    for (JsonNode bucket : usage.get("buckets")) {
      total += bucket.path("counts").path(outcome).asLong(0);
    }
    return total;
  }

  @Test
  void verificationsAreCountedByOutcomeInEveryGranularityWithTheLastUse() {
    JsonNode key = create("usage-owner-1");
    String keyId = key.get("keyId").asText();
    assertThat(client.getKey(keyId).body().get("lastUsedAt").isNull()).isTrue();
    for (int i = 0; i < 5; i++) {
      assertThat(client.verify(key.get("key").asText(), List.of("read")).body().get("code")
          .asText()).isEqualTo("VALID");
    }
    for (int i = 0; i < 2; i++) {
      client.verify(key.get("key").asText(), List.of("write"));
    }

    for (String granularity : List.of("minute", "hour", "day")) {
      await(() -> {
        JsonNode usage = client.send("GET", "/v1/keys/" + keyId + "/usage?granularity="
            + granularity, null).body();
        return count(usage, "VALID") == 5 && count(usage, "INSUFFICIENT_SCOPE") == 2;
      });
    }
    JsonNode usage = client.send("GET", "/v1/keys/" + keyId + "/usage", null).body();
    assertThat(usage.get("granularity").asText()).isEqualTo("hour");
    assertThat(usage.get("lastUsedAt").isTextual()).isTrue();
    assertThat(usage.get("notCounted").asLong()).isZero();
    assertThat(client.getKey(keyId).body().get("lastUsedAt").isTextual()).isTrue();
  }

  @Test
  void anOwnersUsageSumsItsKeysAndTheCallersOwnKeyIsNotUsage() {
    JsonNode a = create("usage-owner-2");
    JsonNode b = create("usage-owner-2");
    client.verify(a.get("key").asText(), List.of());
    client.verify(b.get("key").asText(), List.of());
    client.verify(b.get("key").asText(), List.of());
    await(() -> count(client.send("GET", "/v1/usage?ownerId=usage-owner-2", null).body(),
        "VALID") == 3);
    // Every one of those calls checked the root key too: none of it is usage.
    String rootId = client.listKeys("keyward", 10, null).body().get("keys").get(0).get("keyId")
        .asText();
    assertThat(count(client.send("GET", "/v1/keys/" + rootId + "/usage", null).body(), "VALID"))
        .isZero();
  }

  @Test
  void aBadWindowOrGranularityIsA400NamingTheField() {
    String keyId = create("usage-owner-3").get("keyId").asText();
    assertField("/v1/keys/" + keyId + "/usage?granularity=week", "granularity");
    assertField("/v1/keys/" + keyId + "/usage?from=yesterday", "from");
    assertField("/v1/keys/" + keyId + "/usage?to=2026-13-01T00:00:00Z", "to");
    assertField("/v1/keys/" + keyId + "/usage?from=2026-11-30T00:00:00Z&to=2026-11-29T00:00:00Z",
        "from");
    assertField("/v1/keys/" + keyId + "/usage?granularity=minute&from=2020-01-01T00:00:00Z"
        + "&to=2026-01-01T00:00:00Z", "to");
    assertField("/v1/usage", "ownerId");
    assertThat(client.send("GET", "/v1/keys/key_0000000000000000000000000000/usage", null)
        .status()).isEqualTo(404);
  }

  @Test
  void aWindowIsWidenedToWholeBucketsAndSaysSo() {
    String keyId = create("usage-owner-4").get("keyId").asText();
    JsonNode usage = client.send("GET", "/v1/keys/" + keyId + "/usage?granularity=hour"
        + "&from=2026-11-30T10:30:00Z&to=2026-11-30T12:00:01Z", null).body();
    assertThat(usage.get("from").asText()).isEqualTo("2026-11-30T10:00:00Z");
    assertThat(usage.get("to").asText()).isEqualTo("2026-11-30T13:00:00Z");
  }

  @Test
  void withoutExportersThereIsNothingToPause() {
    assertThat(client.send("GET", "/v1/usage/exporters", null).body().get("exporters").size())
        .isZero();
    assertThat(client.send("POST", "/v1/usage/exporters/nats/pause", null).status())
        .isEqualTo(404);
  }

  @Test
  void aCursorLeftByARemovedExporterIsListedAndCanBeForgottenSoItsRowsGoButAnActiveOneCannot(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path lines) throws Exception {
    try (KeywardTestServer exporting = KeywardTestServer.start(settings -> settings.withUsage(
        UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(100)).withJsonLines(lines)))) {
      KeywardClient admin = exporting.client();
      // A webhook exporter ran here until an hour ago and was taken out of the configuration:
      // its cursor stayed, at the start of the outbox. A NATS exporter's cursor was used just
      // now (by another node, say).
      sql(exporting, "INSERT INTO keyward_usage_cursors (exporter, txid, id, paused, updated_at)"
          + " VALUES ('webhook', '0'::xid8, 0, false, now() - interval '1 hour'),"
          + " ('nats', '0'::xid8, 0, false, now())");
      JsonNode key = admin.createKey(Map.of("name", "k", "ownerId", "usage-owner-cursor",
          "scopes", List.of("read"))).body();
      admin.verify(key.get("key").asText(), List.of("read"));
      await(() -> exporter(admin, "webhook").path("lag").asLong() > 0
          && exporter(admin, "jsonl").path("lag").asLong() == 0);
      assertThat(exporter(admin, "jsonl").get("runsHere").asBoolean()).isTrue();
      assertThat(exporter(admin, "webhook").get("runsHere").asBoolean()).isFalse();
      assertThat(exporter(admin, "nats").get("runsHere").asBoolean()).isFalse();

      KeywardClient.Response here = admin.send("DELETE", "/v1/usage/exporters/jsonl", null);
      assertThat(here.status()).isEqualTo(409);
      assertThat(here.body().toString()).contains("this node runs exporter 'jsonl'");
      KeywardClient.Response active = admin.send("DELETE", "/v1/usage/exporters/nats", null);
      assertThat(active.status()).isEqualTo(409);
      assertThat(active.body().toString()).contains("in use within the last 3 minutes");
      KeywardClient.Response removed = admin.send("DELETE", "/v1/usage/exporters/webhook", null);
      assertThat(removed.status()).isEqualTo(200);
      assertThat(removed.body().get("removed").asBoolean()).isTrue();
      assertThat(admin.send("DELETE", "/v1/usage/exporters/webhook", null).status())
          .isEqualTo(404);
      assertThat(exporter(admin, "webhook").isMissingNode()).isTrue();
      assertThat(exporting.clientWithKey("kw_nope").send("DELETE",
          "/v1/usage/exporters/nats", null).status()).isEqualTo(401);

      // Quiet for four minutes now: a left-over too. With both gone, the rows the JSON Lines
      // exporter delivered go at the next retention pass (UsageStoreTest shows that a cursor
      // left behind holds them).
      exporting.clock().advance(Duration.ofMinutes(4));
      assertThat(admin.send("DELETE", "/v1/usage/exporters/nats", null).status())
          .isEqualTo(200);
      // A running exporter with nothing to deliver still marks its cursor, so that no node
      // takes it for a left-over.
      java.time.Instant advanced = exporting.clock().instant();
      await(() -> cursorUsedAt(exporting, "jsonl").isAfter(advanced.minusSeconds(60)));
      await(() -> outboxRows(exporting) == 0);
    }
  }

  private static JsonNode exporter(KeywardClient admin, String name) {
    for (JsonNode exporter : admin.send("GET", "/v1/usage/exporters", null).body()
        .get("exporters")) {
      if (exporter.get("name").asText().equals(name)) {
        return exporter;
      }
    }
    return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
  }

  private static long outboxRows(KeywardTestServer server) {
    try (java.sql.Connection c = server.database().pool().getConnection();
        java.sql.Statement statement = c.createStatement();
        java.sql.ResultSet rs = statement.executeQuery(
            "SELECT count(*) FROM keyward_usage_outbox")) {
      rs.next();
      return rs.getLong(1);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static java.time.Instant cursorUsedAt(KeywardTestServer server, String exporter) {
    try (java.sql.Connection c = server.database().pool().getConnection();
        java.sql.PreparedStatement read = c.prepareStatement(
            "SELECT updated_at FROM keyward_usage_cursors WHERE exporter = ?")) {
      read.setString(1, exporter);
      try (java.sql.ResultSet rs = read.executeQuery()) {
        return rs.next() ? rs.getTimestamp(1).toInstant() : java.time.Instant.EPOCH;
      }
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void sql(KeywardTestServer server, String sql) throws Exception {
    try (java.sql.Connection c = server.database().pool().getConnection();
        java.sql.Statement statement = c.createStatement()) {
      statement.executeUpdate(sql);
    }
  }

  private static void assertField(String path, String field) {
    KeywardClient.Response answer = client.send("GET", path, null);
    assertThat(answer.status()).as(path).isEqualTo(400);
    assertThat(answer.body().toString()).as(path).contains(field);
  }
}
