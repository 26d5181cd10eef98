package io.keyward.server;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardCluster;
import io.keyward.testing.TcpProxy;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The switch {@code verify.foreign-filter} on three nodes over the real PostgreSQL and Redis, the
 * filter {@code on}: a key imported on one node verifies on every other node at once; strings of
 * foreign shape cost no store lookup, also while the database refuses connections; a node cut
 * from Redis stops trusting its filter (the store decides) and refuses imports it cannot announce.
 */
class ForeignFilterReplayTest {
  private static KeywardCluster cluster;
  private static final Random random = new Random(20261201L);
  /** Proxies that took over a stopped one's port; open until the cluster stops. */
  private static final List<TcpProxy> restored = new java.util.ArrayList<>();

  @BeforeAll
  static void start() {
    cluster = KeywardCluster.start(3);
    cluster.setSwitch("verify.foreign-filter", Map.of("stage", "on",
        "reason", "replay: foreign garbage costs no lookup"));
    for (KeywardCluster.Node node : cluster.nodes()) {
      await(() -> metric(node, "keyward_foreign_filter_trusted") == 1.0);
    }
  }

  @AfterAll
  static void stop() {
    cluster.close();
    restored.forEach(TcpProxy::close);
  }

  private static double metric(KeywardCluster.Node node, String name) {
    String scrape = node.client().sendJson("GET", "/metrics", null, null, false).raw().body();
    return scrape.lines().filter(line -> line.startsWith(name + " ") || line.startsWith(name + "{"))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  /** A string of foreign shape (another vendor's prefix), never issued by anyone. */
  private static String foreign() {
    StringBuilder key = new StringBuilder("sk_live_");
    String alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 32; i++) {
      key.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return key.toString();
  }

  private static String sha256(String key) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(key.getBytes(StandardCharsets.US_ASCII)));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  private static KeywardClient.Response importOn(KeywardCluster.Node node, String key) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("sha256", sha256(key));
    body.put("name", "legacy");
    body.put("ownerId", "foreign-filter");
    return node.client().importKey(body);
  }

  private static String code(KeywardClient.Response answer) {
    return answer.body().path("code").asText(answer.status() + " " + answer.body());
  }

  @Test
  void aKeyImportedOnOneNodeVerifiesOnEveryOtherNodeAtOnce() {
    double filteredBefore = metric(cluster.node(1), "keyward_verify_foreign_filtered_total");
    for (int i = 0; i < 30; i++) {
      String key = foreign();
      KeywardCluster.Node importer = cluster.node(i % 3);
      // Before the import every node answers NOT_FOUND, and from the filter.
      assertThat(code(cluster.node((i + 1) % 3).client().verify(key, List.of())))
          .isEqualTo("NOT_FOUND");
      assertThat(importOn(importer, key).status()).isEqualTo(201);
      for (KeywardCluster.Node node : cluster.nodes()) {
        assertThat(code(node.client().verify(key, List.of())))
            .as("import %d on node %d, verified at once on %s", i, i % 3, node.baseUri())
            .isEqualTo("VALID");
      }
    }
    assertThat(metric(cluster.node(1), "keyward_verify_foreign_filtered_total"))
        .as("the NOT_FOUNDs before the imports came from the filter")
        .isGreaterThan(filteredBefore);
  }

  @Test
  void foreignGarbageCostsNoStoreLookupAndIsAnsweredWhileTheDatabaseRefusesConnections() {
    KeywardCluster.Node node = cluster.node(1);
    double filteredBefore = metric(node, "keyward_verify_foreign_filtered_total");
    int notFound = 0;
    cluster.database().refuseAndKillConnections();
    try {
      for (int i = 0; i < 200; i++) {
        // NOT_FOUND from the filter; or, in a moment it cannot prove its negatives (a poll of
        // Redis late past the window: a GC pause), "cannot decide" from the failing store. Never
        // anything else.
        KeywardClient.Response answer = node.client().verify(foreign(), List.of());
        assertThat(answer.status() == 503 || "NOT_FOUND".equals(code(answer)))
            .as("answer %d: %s %s", i, answer.status(), answer.body()).isTrue();
        notFound += answer.status() == 200 ? 1 : 0;
      }
    } finally {
      cluster.database().restore();
      // The pools' connections were killed: each node's store answers again once it has new
      // ones (the next test needs the store).
      for (KeywardCluster.Node each : cluster.nodes()) {
        await(() -> each.client().send("GET", "/v1/keys?limit=1", null).status() == 200);
      }
    }
    double filtered = metric(node, "keyward_verify_foreign_filtered_total") - filteredBefore;
    assertThat(filtered).isEqualTo(notFound);
    assertThat(notFound).as("answered by the filter with the database down").isGreaterThan(150);
  }

  @Test
  void aNodeCutFromRedisLetsTheStoreDecideAndRefusesImportsItCannotAnnounce() {
    KeywardCluster.Node node = cluster.node(2);
    int port = node.redisProxy().port();
    node.redisProxy().stop();
    try {
      await(() -> metric(node, "keyward_foreign_filter_trusted") == 0.0);
      double filteredBefore = metric(node, "keyward_verify_foreign_filtered_total");
      assertThat(code(node.client().verify(foreign(), List.of()))).isEqualTo("NOT_FOUND");
      assertThat(metric(node, "keyward_verify_foreign_filtered_total"))
          .as("answered by the store, not the filter").isEqualTo(filteredBefore);

      String key = foreign();
      KeywardClient.Response refused = importOn(node, key);
      assertThat(refused.status()).isEqualTo(503);
      assertThat(refused.body().toString()).contains("nothing was stored");
      assertThat(code(cluster.node(0).client().verify(key, List.of()))).isEqualTo("NOT_FOUND");
    } finally {
      restored.add(TcpProxy.on(port, 6379));
    }
    await(() -> metric(node, "keyward_foreign_filter_trusted") == 1.0);
    String key = foreign();
    assertThat(importOn(node, key).status()).isEqualTo(201);
    assertThat(code(cluster.node(0).client().verify(key, List.of()))).isEqualTo("VALID");
  }
}
