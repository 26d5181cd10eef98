package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.cache.redis.RedisTestSupport;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.testing.Eventually;
import io.keyward.testing.TcpProxy;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A node whose Redis does not answer when it starts (it used to refuse to start): it starts,
 * answers from L1 and the store, says so in {@code /health/ready}, and connects once Redis is back.
 */
class RedisDownAtStartTest {
  @Test
  void nodeStartsWithoutRedisSaysSoAndConnectsWhenRedisComesBack() {
    int port = TcpProxy.freePort();
    try (RedisTestSupport redis = RedisTestSupport.open();
        KeywardTestServer keyward = KeywardTestServer.start(settings ->
            settings.withRedis(redis.settings("redis://127.0.0.1:" + port + "/0")))) {
      KeywardClient client = keyward.client();
      String key = client.createKey(Map.of("name", "k", "ownerId", "o")).body().get("key")
          .asText();

      KeywardClient.Response ready = client.send("GET", "/health/ready", null);
      assertThat(ready.status()).isEqualTo(200);
      assertThat(ready.body().at("/gates/redis").asText()).startsWith("connecting:");
      assertThat(client.verify(key, List.of()).body().get("code").asText()).isEqualTo("VALID");

      try (TcpProxy redisIsBack = TcpProxy.on(port, 6379)) {
        JsonNode[] body = new JsonNode[1];
        Eventually.await(() -> {
          body[0] = client.send("GET", "/health/ready", null).body();
          return body[0].at("/gates/redis").asText().equals("connected");
        });
        assertThat(client.verify(key, List.of()).body().get("code").asText()).isEqualTo("VALID");
        assertThat(client.sendJson("GET", "/metrics", null, null, false).raw().body())
            .contains("keyward_cache_l2_connected 1.0");
      }
    }
  }
}
