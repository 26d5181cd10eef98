package io.keyward.client;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.testing.Eventually;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Revocations pushed to a subscribed client, measured against a real server: the client's fresh
 * window is an hour, so a denial can only come from the push. Each sample is the time from the
 * revoke call to the client's first denial of the key. The figures go to
 * target/client-revocation.txt (no threshold here: a shared machine is noisy; docs/benchmarks.md
 * has the run of {@code -Dkeyward.revocations=1000}).
 */
class ClientRevocationTest {
  private static final int SAMPLES = Integer.getInteger("keyward.revocations", 100);

  @Test
  void everyRevokedKeyIsDeniedByASubscribedClientThroughThePush() throws IOException {
    List<Double> millis = new ArrayList<>();
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      KeywardClient admin = keyward.client();
      String verifyKey = admin.createKey(Map.of("name", "svc", "ownerId", "svc",
          "scopes", List.of("keyward:verify"))).body().get("key").asText();
      try (KeywardVerifier verifier = KeywardVerifier.builder(keyward.baseUri(), verifyKey)
          .fresh(Duration.ofHours(1)).build()) {
        Eventually.await(() -> !verifier.isUnsynced());
        for (int i = 0; i < SAMPLES; i++) {
          JsonNode created = admin.createKey(Map.of("name", "r" + i, "ownerId", "o")).body();
          String key = created.get("key").asText();
          assertThat(verifier.verify(key, List.of())).isInstanceOf(Decision.Allowed.class);
          long started = System.nanoTime();
          assertThat(admin.revokeKey(created.get("keyId").asText()).status()).isEqualTo(200);
          long deadline = started + Duration.ofSeconds(10).toNanos();
          while (!(verifier.verify(key, List.of()) instanceof Decision.Denied)) {
            assertThat(System.nanoTime()).as("revocation %d not pushed within 10 s", i)
                .isLessThan(deadline);
            Thread.onSpinWait();
          }
          millis.add((System.nanoTime() - started) / 1e6);
        }
        assertThat(verifier.stats().invalidations()).isGreaterThanOrEqualTo(SAMPLES);
      }
    }
    Collections.sort(millis);
    String report = String.format(java.util.Locale.ROOT,
        "revocation pushed to a subscribed KeywardVerifier, %d samples (revoke call to the"
            + " client's denial): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms%n",
        millis.size(), pct(millis, 50), pct(millis, 90), pct(millis, 99), millis.getLast());
    System.out.print(report);
    Files.writeString(Path.of("target", "client-revocation.txt"), report);
  }

  private static double pct(List<Double> sorted, int percentile) {
    int index = (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }
}
