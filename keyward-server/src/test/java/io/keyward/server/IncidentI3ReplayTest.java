package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.schema.ContractGate;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.store.postgres.Migrations;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Incident I-3 replayed against a running Keyward (release N) on the real PostgreSQL, with
 * verifications and admin reads over HTTP the whole time: the contract step of a column rename
 * (release N reads the column) is refused and rolled back while N serves; the expand step is
 * applied; nothing answers other than 200.
 */
class IncidentI3ReplayTest {

  private static int migrate(KeywardTestServer keyward, String step) {
    return Migrations.migrate(keyward.database().url(),
        "classpath:db/migration,classpath:db/i3/" + step, Duration.ofSeconds(5), 1,
        Duration.ofMillis(50), ContractGate.forDatabase(keyward.database().url(), null));
  }

  @Test
  void contractStepIsRefusedWhileReleaseNServesAndItsTrafficNeverFails() throws Exception {
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      List<String> keys = new ArrayList<>();
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        var created = keyward.client().createKey(Map.of("name", "n" + i, "ownerId", "o")).body();
        keys.add(created.get("key").asText());
        ids.add(created.get("keyId").asText());
      }
      AtomicBoolean running = new AtomicBoolean(true);
      AtomicInteger answered = new AtomicInteger();
      List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
      Thread traffic = Thread.ofVirtual().start(() -> {
        for (int i = 0; running.get(); i++) {
          Response verify = keyward.client().verify(keys.get(i % keys.size()), List.of());
          Response read = keyward.client().send("GET", "/v1/keys/" + ids.get(i % ids.size()), null);
          answered.addAndGet(2);
          if (verify.status() != 200 || !verify.body().get("code").asText().equals("VALID")) {
            failures.add("verify " + verify.status() + " " + verify.body());
          }
          if (read.status() != 200) {
            failures.add("read " + read.status() + " " + read.body());
          }
        }
      });
      io.keyward.testing.Eventually.await(() -> answered.get() > 50);

      assertThatThrownBy(() -> migrate(keyward, "contract"))
          .hasMessageContaining("V100__rename_name.sql breaks the query contract of live node(s)")
          .hasMessageContaining("(" + KeywardServer.RELEASE + ")")
          .hasMessageContaining("column \"name\"");
      int before = answered.get();
      io.keyward.testing.Eventually.await(() -> answered.get() > before + 50);
      assertThat(migrate(keyward, "expand")).isEqualTo(1);
      int afterExpand = answered.get();
      io.keyward.testing.Eventually.await(() -> answered.get() > afterExpand + 50);

      running.set(false);
      traffic.join();
      assertThat(failures).isEmpty();
      assertThat(keyward.database().queryForString("SELECT string_agg(column_name, ',' ORDER BY"
          + " column_name) FROM information_schema.columns WHERE table_name = 'api_keys' AND"
          + " column_name IN ('name', 'display_name')")).isEqualTo("display_name,name");
    }
  }
}
