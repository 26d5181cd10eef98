package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.TcpProxy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The database goes away for real (connections killed, new ones refused): keys verified before
 * stay VALID within the stale window, unseen keys get 503 UNAVAILABLE, never NOT_FOUND, and
 * nothing answers 500.
 */
class StoreOutageTest {
  private static Response verify(KeywardTestServer keyward, String key) {
    return keyward.client().verify(key, List.of());
  }

  @Test
  void knownKeysStayValidAndUnseenKeysAre503WhileTheDatabaseIsDown() {
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      Map<String, Object> body = Map.of("name", "n", "ownerId", "o");
      String seen = keyward.client().createKey(body).body().get("key").asText();
      String unseen = keyward.client().createKey(body).body().get("key").asText();
      assertThat(verify(keyward, seen).body().get("code").asText()).isEqualTo("VALID");

      keyward.database().refuseAndKillConnections();
      keyward.clock().advance(Duration.ofSeconds(31)); // past fresh, within stale

      assertThat(verify(keyward, seen).body().get("code").asText()).isEqualTo("VALID");
      Response unknown = verify(keyward, unseen);
      assertThat(unknown.status()).isEqualTo(503);
      assertThat(unknown.body().at("/error/code").asText()).isEqualTo("UNAVAILABLE");
      assertThat(unknown.raw().headers().firstValue("Retry-After")).isPresent();
      Response admin = keyward.client().createKey(body);
      assertThat(admin.status()).isEqualTo(503);
      // Ready but degraded: it answers its cached keys, so a load balancer must keep it in.
      Response ready = keyward.client().sendJson("GET", "/health/ready", null, null, false);
      io.keyward.testing.Eventually.await(() -> keyward.client()
          .sendJson("GET", "/health/ready", null, null, false).body().toString().contains("DEGRADED"));
      ready = keyward.client().sendJson("GET", "/health/ready", null, null, false);
      assertThat(ready.status()).isEqualTo(200);
      assertThat(ready.body().get("status").asText()).isEqualTo("DEGRADED");
      assertThat(ready.body().toString()).doesNotContain("SQLState").doesNotContain("keyward -")
          .doesNotContain("Connection").doesNotContain("FATAL");
      assertThat(keyward.client().sendJson("GET", "/health/live", null, null, false).status())
          .isEqualTo(200);

      keyward.clock().advance(Duration.ofMinutes(10)); // past stale: no more guessing
      assertThat(verify(keyward, seen).status()).isEqualTo(503);

      keyward.database().restore();
      // The store breaker lets a probe through once its open second has passed (on the node's
      // clock, which this test moves); the pool may need a try or two to reconnect.
      io.keyward.testing.Eventually.await(() -> {
        keyward.clock().advance(Duration.ofSeconds(1));
        return verify(keyward, seen).status() == 200;
      });
      assertThat(verify(keyward, seen).body().get("code").asText()).isEqualTo("VALID");
      assertThat(verify(keyward, unseen).body().get("code").asText()).isEqualTo("VALID");
    }
  }

  @Test
  void databaseBehindAPortThatStartsRefusingGives503ForUnseenKeysAndStaleForSeenOnes() {
    try (TcpProxy proxy = TcpProxy.to(5432)) {
      String viaProxy = TestDatabase.ADMIN_URL.replace(":5432/", ":" + proxy.port() + "/");
      try (KeywardTestServer keyward = KeywardTestServer.startVia(viaProxy)) {
        Map<String, Object> body = Map.of("name", "n", "ownerId", "o");
        String seen = keyward.client().createKey(body).body().get("key").asText();
        String unseen = keyward.client().createKey(body).body().get("key").asText();
        assertThat(verify(keyward, seen).body().get("code").asText()).isEqualTo("VALID");

        proxy.stop();
        keyward.clock().advance(Duration.ofSeconds(31));

        assertThat(verify(keyward, seen).body().get("code").asText()).isEqualTo("VALID");
        Response response = verify(keyward, unseen);
        assertThat(response.status()).isEqualTo(503);
        assertThat(response.body().toString()).doesNotContain("NOT_FOUND");
      }
    }
  }
}
