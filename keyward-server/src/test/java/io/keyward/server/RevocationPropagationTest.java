package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.server.testing.KeywardCluster;
import io.keyward.testing.Eventually;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verifier;
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
 * A revocation on one node reaches the others over Redis pub/sub, and with the channel cut,
 * within the fallback bound. The nodes' clocks never move unless the test moves them, so a denial
 * seen without moving them can only have come through the channel, not through cache expiry.
 * Measured propagation times are written to target/revocation-propagation.txt.
 */
class RevocationPropagationTest {
  private static final int SAMPLES = 30;

  @Test
  void revocationOnOneNodeIsDeniedOnEveryOtherNodeThroughTheChannel() throws IOException {
    List<Double> millis = new ArrayList<>();
    try (KeywardCluster cluster = KeywardCluster.start(3)) {
      var a = cluster.node(0);
      for (int i = 0; i < SAMPLES; i++) {
        var created = a.client().createKey(Map.of("name", "p" + i, "ownerId", "prop")).body();
        String key = created.get("key").asText();
        for (var node : cluster.nodes()) {
          assertThat(node.server().verifier().verify(key).outcome()).isEqualTo(Outcome.VALID);
        }

        long started = System.nanoTime();
        assertThat(a.client().revokeKey(created.get("keyId").asText()).status()).isEqualTo(200);
        for (var node : cluster.nodes().subList(1, 3)) {
          awaitRevoked(node.server().verifier(), key);
          millis.add((System.nanoTime() - started) / 1e6);
        }
      }
    }
    Collections.sort(millis);
    String report = String.format(java.util.Locale.ROOT,
        "revocation propagation over Redis pub/sub, %d samples (revoke call to denial on another"
            + " node): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms%n",
        millis.size(), pct(millis, 50), pct(millis, 90), pct(millis, 99), millis.getLast());
    System.out.print(report);
    Files.writeString(Path.of("target", "revocation-propagation.txt"), report);
  }

  @Test
  void withTheChannelCutANodeDeniesARevokedKeyOnceItsUnsyncedFreshWindowHasPassed() {
    try (KeywardCluster cluster = KeywardCluster.start(2)) {
      var a = cluster.node(0);
      var cut = cluster.node(1);
      var created = a.client().createKey(Map.of("name", "cut", "ownerId", "prop")).body();
      String key = created.get("key").asText();

      cut.redisProxy().stop(); // this node loses Redis: its cache tier and its channel
      Eventually.await(() -> cut.server().verifier().isUnsynced());
      cut.clock().advance(Duration.ofMillis(1)); // past the cutoff the channel loss set
      assertThat(cut.server().verifier().verify(key).outcome()).isEqualTo(Outcome.VALID);
      a.client().revokeKey(created.get("keyId").asText());

      // The revocation cannot reach the cut node; its answer is at most the unsynced window old.
      assertThat(cut.server().verifier().verify(key).outcome()).isEqualTo(Outcome.VALID);
      cut.clock().advance(Duration.ofSeconds(2));
      assertThat(cut.server().verifier().verify(key).outcome()).isEqualTo(Outcome.REVOKED);
    }
  }

  private static void awaitRevoked(Verifier verifier, String key) {
    Eventually.await(() -> verifier.verify(key).outcome() == Outcome.REVOKED);
  }



  private static double pct(List<Double> sorted, int percentile) {
    int index = (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }
}
