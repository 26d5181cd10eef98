package io.keyward.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.KeyHash;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Canary membership: stable, monotonic in the share, uniform, and picked by the salt. */
class CanaryBucketsTest {
  private static final List<byte[]> HASHES = new ArrayList<>();

  static {
    for (int i = 0; i < 20_000; i++) {
      HASHES.add(KeyHash.of("key-" + i).toBytes());
    }
  }

  private static Set<Integer> canary(long salt, int basisPoints) {
    SwitchState state = new SwitchState("s", Stage.CANARY, basisPoints, 0, 1, salt,
        GuardRules.DEFAULTS);
    Set<Integer> in = new HashSet<>();
    for (int i = 0; i < HASHES.size(); i++) {
      if (CanaryBuckets.inCanary(state, HASHES.get(i))) {
        in.add(i);
      }
    }
    return in;
  }

  @Test
  void raisingTheShareOnlyAddsKeysAndGoingBackTakesTheSameKeysAgain() {
    Set<Integer> five = canary(42, 500);
    Set<Integer> ten = canary(42, 1000);

    assertThat(ten).containsAll(five);
    assertThat(canary(42, 500)).isEqualTo(five);
    assertThat(canary(42, 0)).isEmpty();
    assertThat(canary(42, 10_000)).hasSize(HASHES.size());
  }

  @Test
  void theShareOfKeysIsTheShareAskedForAndTheSaltPicksWhich() {
    Set<Integer> ten = canary(42, 1000);
    Set<Integer> otherSalt = canary(7, 1000);

    // 20,000 keys at 10%: 2,000 expected, standard deviation about 42.
    assertThat(ten.size()).isBetween(1800, 2200);
    assertThat(otherSalt.size()).isBetween(1800, 2200);
    Set<Integer> both = new HashSet<>(ten);
    both.retainAll(otherSalt);
    assertThat(both.size()).as("independent salts overlap by about 10% of 10%").isBetween(120, 280);
  }
}
