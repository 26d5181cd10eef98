package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.server.testing.KeywardCluster;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Redis paused, then gone, in the middle of a run: every verification through HTTP still gets
 * the right answer from the store, none is a 500 or a 503, and the breaker opens.
 */
class RedisOutageTest {
  @Test
  void verificationsStayCorrectWhileRedisIsSlowAndThenUnreachable() {
    try (KeywardCluster cluster = KeywardCluster.start(1)) {
      var node = cluster.node(0);
      List<String> keys = new ArrayList<>();
      List<String> revoked = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        var created = node.client().createKey(Map.of("name", "r" + i, "ownerId", "o")).body();
        keys.add(created.get("key").asText());
        if (i % 4 == 0) {
          node.client().revokeKey(created.get("keyId").asText());
          revoked.add(created.get("key").asText());
        }
      }
      assertAllCorrect(node, keys, revoked);

      cluster.redis().raw().clientPause(1_000); // Redis answers nobody for a second
      node.server().verifier().invalidateAll();
      assertAllCorrect(node, keys, revoked);

      node.redisProxy().stop(); // then Redis is gone for good
      node.server().verifier().invalidateAll();
      assertAllCorrect(node, keys, revoked);
      String metrics = node.client().sendJson("GET", "/metrics", null, null, false).raw().body();
      assertThat(metrics).contains("keyward_cache_l2_breaker_open 1.0");
    }
  }

  private static void assertAllCorrect(KeywardCluster.Node node, List<String> keys, List<String> revoked) {
    for (String key : keys) {
      Response response = node.client().verify(key, List.of());
      assertThat(response.status()).isEqualTo(200);
      assertThat(response.body().get("code").asText())
          .isEqualTo(revoked.contains(key) ? "REVOKED" : "VALID");
    }
  }
}
