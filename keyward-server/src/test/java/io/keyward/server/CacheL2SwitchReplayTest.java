package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.cache.redis.EntryEnvelope;
import io.keyward.client.admin.KeywardClient;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.server.testing.KeywardCluster;
import io.keyward.store.postgres.PostgresKeyStore;
import io.keyward.testing.Eventually;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reading the Redis tier behind its switch, on three nodes over the real PostgreSQL and Redis:
 * a switch changed on one node is applied on all three and says so; a tier that would deny 1
 * valid key in 100 (a validly signed but stale entry saying the key is disabled, the I-4 shape)
 * never reaches a client in shadow or in canary, and the guard turns the switch off by itself,
 * on every node, with its evidence in the history.
 */
class CacheL2SwitchReplayTest {
  private static final int KEYS = 100;
  private static KeywardCluster cluster;
  private static final List<String> keys = new ArrayList<>();

  @BeforeAll
  static void start() {
    cluster = KeywardCluster.start(3);
    for (int i = 0; i < KEYS; i++) {
      keys.add(cluster.node(0).client().createKey(Map.of("name", "k" + i, "ownerId", "l2"))
          .body().get("key").asText());
    }
  }

  @AfterAll
  static void stop() {
    cluster.close();
  }

  /** Puts in Redis, for {@code key}, a correctly signed entry whose record says "disabled". */
  private static void writeStaleDisabledEntry(String key, KeywardCluster.Node reader) {
    writeStaleEntry(key, reader, false, null);
  }

  /**
   * Puts in Redis, for {@code key}, a correctly signed entry of its record as it is stored but
   * with {@code enabled} and, if not null, {@code scopes} as given: an older state of the key.
   */
  private static void writeStaleEntry(String key, KeywardCluster.Node reader, boolean enabled,
      java.util.@org.jspecify.annotations.Nullable Set<String> scopes) {
    KeyHash hash = KeyHash.of(key);
    KeyRecord live = new PostgresKeyStore(cluster.database().pool()).findByHash(hash).orElseThrow();
    KeyRecord disabled = new KeyRecord(live.keyId(), live.hash(), live.hint(), live.name(),
        live.ownerId(), scopes == null ? live.scopes() : scopes, live.metaJson(),
        live.environment(), live.origin(), live.createdAt(), live.updatedAt(), live.expiresAt(),
        live.revokedAt(), enabled, live.rotatedFrom(), live.version());
    String entryKey = cluster.redis().namespace() + ":key:v1:" + hash.toHex(); // as the tier names it
    cluster.redis().raw().set(entryKey, EntryEnvelope.encode(disabled, reader.clock().millis(),
        cluster.signingKey()));
  }

  /** Verifies every key over HTTP on every node; returns the answers that were not VALID. */
  private static List<String> falseDenials() {
    List<String> denied = new ArrayList<>();
    for (KeywardCluster.Node node : cluster.nodes()) {
      node.server().verifier().invalidateAll(); // every answer is a fresh load
      for (String key : keys) {
        KeywardClient.Response answer = node.client().verify(key, List.of());
        String outcome = answer.body().path("code").asText(answer.body().toString());
        if (!"VALID".equals(outcome)) {
          denied.add(outcome);
        }
      }
    }
    return denied;
  }

  private static JsonNode awaitStage(String stage) {
    JsonNode[] last = new JsonNode[1];
    Eventually.await(() -> {
      last[0] = cluster.node(2).client().send("GET", "/v1/switches/cache.l2", null).body();
      return last[0].get("stage").asText().equals(stage) && last[0].get("lagging").isEmpty();
    });
    return last[0];
  }

  @Test
  void aChangeOnOneNodeIsAppliedOnAllThreeAndTheAnswerSaysSo() {
    KeywardClient.Response put = cluster.node(1).client().send("PUT", "/v1/switches/cache.l2",
        Map.of("stage", "canary", "canaryBasisPoints", 500, "reason", "5% of keys"));
    assertThat(put.status()).as(put.body().toString()).isEqualTo(200);
    long version = put.body().get("version").asLong();

    JsonNode seen = awaitStage("canary");

    assertThat(seen.get("version").asLong()).isEqualTo(version);
    assertThat(seen.get("applied").asText()).isEqualTo("3 of 3 nodes at version " + version);
    assertThat(seen.get("canaryBasisPoints").asInt()).isEqualTo(500);
    assertThat(seen.at("/guard/rules/minimumSample").asInt()).isEqualTo(200);
    JsonNode history = cluster.node(0).client().send("GET", "/v1/switches/cache.l2/history",
        null).body().get("history");
    assertThat(history.get(0).get("reason").asText()).isEqualTo("5% of keys");
    assertThat(history.get(0).get("version").asLong()).isEqualTo(version);
    cluster.setSwitch("cache.l2", Map.of("stage", "on", "reason", "back to on"));
  }

  @Test
  void aStaleEntryLackingAScopeTheKeyHasNowIsNotAnsweredOnItsWordInCanary() {
    String key = cluster.node(0).client().createKey(Map.of("name", "scoped", "ownerId", "l2",
        "scopes", List.of("reports:read"))).body().get("key").asText();
    cluster.setSwitch("cache.l2", Map.of("stage", "canary", "canaryBasisPoints", 10_000,
        "reason", "scopes in canary"));
    try {
      KeywardCluster.Node reader = cluster.node(2);
      writeStaleEntry(key, reader, true, java.util.Set.of()); // before the scope was granted
      reader.server().verifier().invalidateAll();

      KeywardClient.Response answer = reader.client().verify(key, List.of("reports:read"));

      assertThat(answer.body().get("code").asText()).isEqualTo("VALID");
      awaitStage("off"); // the tier's denial was a confirmed false denial
      JsonNode kept = reader.client().send("GET", "/v1/switches/cache.l2/disagreements", null)
          .body().get("disagreements");
      assertThat(kept.get(kept.size() - 1).get("candidate").asText())
          .isEqualTo("INSUFFICIENT_SCOPE");
    } finally {
      cluster.setSwitch("cache.l2", Map.of("stage", "on", "reason", "scopes done"));
    }
  }

  @Test
  void badChangesAreRefusedNamingTheField() {
    KeywardClient client = cluster.node(0).client();

    assertThat(client.send("PUT", "/v1/switches/cache.l2",
        Map.of("stage", "sideways", "reason", "x")).body().toString()).contains("stage");
    assertThat(client.send("PUT", "/v1/switches/cache.l2",
        Map.of("stage", "canary", "reason", "x")).body().toString()).contains("canaryBasisPoints");
    assertThat(client.send("PUT", "/v1/switches/cache.l2",
        Map.of("stage", "on")).body().toString()).contains("reason");
    assertThat(client.send("PUT", "/v1/switches/cache.l2", Map.of("stage", "on", "reason", "x",
        "guard", Map.of("maxErrorRate", 2))).body().toString()).contains("guard.maxErrorRate");
    assertThat(client.send("PUT", "/v1/switches/cache.l2",
        Map.of("stage", "sideways", "reason", "x")).status()).isEqualTo(400);
    assertThat(client.send("PUT", "/v1/switches/no.such", Map.of("stage", "on", "reason", "x"))
        .status()).isEqualTo(404);
    assertThat(client.send("GET", "/v1/switches/no.such", null).status()).isEqualTo(404);
  }

  @Test
  void aTierThatWouldDenyAValidKeyIsCaughtInShadowAndInCanaryAndNeverReachesAClient() {
    KeywardCluster.Node reader = cluster.node(1);
    String damaged = keys.get(37);
    for (String stage : List.of("shadow", "canary")) {
      cluster.setSwitch("cache.l2", Map.of("stage", stage, "canaryBasisPoints", 10_000,
          "sampleBasisPoints", 10_000, "reason", "replay in " + stage));
      cluster.nodes().forEach(node -> node.server().verifier().invalidateAll());
      for (KeywardCluster.Node node : cluster.nodes()) {
        writeStaleDisabledEntry(damaged, node);
        node.server().verifier().invalidateAll();
        assertThat(node.client().verify(damaged, List.of()).body().get("code").asText())
            .as(stage + " on " + node.server().port()).isEqualTo("VALID");
      }

      JsonNode off = awaitStage("off"); // reverted by the guard, applied on all three

      assertThat(off.get("applied").asText()).startsWith("3 of 3 nodes");
      JsonNode revert = reader.client().send("GET", "/v1/switches/cache.l2/history", null)
          .body().get("history").get(0);
      assertThat(revert.get("actor").asText()).isEqualTo("guard");
      assertThat(revert.get("previousStage").asText()).isEqualTo(stage);
      assertThat(revert.get("evidence").asText()).contains("false denial");
      assertThat(falseDenials()).as("answers other than VALID, all keys, all nodes").isEmpty();
    }
    JsonNode kept = cluster.node(0).client().send("GET", "/v1/switches/cache.l2/disagreements",
        null).body().get("disagreements");
    assertThat(kept).isNotEmpty();
    assertThat(kept.get(0).get("kind").asText()).isEqualTo("candidate_denies_allowed");
    assertThat(kept.get(0).get("control").asText()).isEqualTo("VALID");
    assertThat(kept.get(0).get("candidate").asText()).isEqualTo("DISABLED");
    assertThat(kept.toString()).doesNotContain(damaged); // key ids, never keys
    cluster.setSwitch("cache.l2", Map.of("stage", "on", "reason", "replay done"));
  }
}
