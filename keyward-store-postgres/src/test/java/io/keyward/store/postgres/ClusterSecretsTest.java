package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.SecureRandom;
import org.junit.jupiter.api.Test;

class ClusterSecretsTest {
  @Test
  void theFirstNodeCreatesASecretAndEveryNodeReadsTheSameOne() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      ClusterSecrets nodeA = new ClusterSecrets(database.pool(), new SecureRandom());
      ClusterSecrets nodeB = new ClusterSecrets(database.pool(), new SecureRandom());

      byte[] first = nodeA.getOrCreate(ClusterSecrets.CACHE_SIGNING_KEY);
      byte[] second = nodeB.getOrCreate(ClusterSecrets.CACHE_SIGNING_KEY);

      assertThat(first).hasSize(32).isEqualTo(second);
      assertThat(nodeA.getOrCreate("other")).isNotEqualTo(first);
    }
  }
}
