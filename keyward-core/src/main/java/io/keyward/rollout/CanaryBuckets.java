package io.keyward.rollout;

/**
 * Which of 10,000 buckets a key falls in for a switch: a mix of the switch's salt with the first
 * eight bytes of the key's SHA-256 hash (already uniform). A key is in a canary of {@code n} basis
 * points when its bucket is below {@code n}, so raising the share only adds keys, and the same
 * salt always picks the same keys. No allocation, no lock.
 */
public final class CanaryBuckets {
  private CanaryBuckets() {}

  /** The bucket (0..9,999) of the key whose hash is {@code keyHash} (at least 8 bytes). */
  public static int bucket(long salt, byte[] keyHash) {
    long h = 0;
    for (int i = 0; i < 8; i++) {
      h = (h << 8) | (keyHash[i] & 0xffL);
    }
    long z = h ^ salt;
    // splitmix64's finaliser: every bit of the salt reaches every bit of the result.
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    z = z ^ (z >>> 31);
    return (int) Long.remainderUnsigned(z, SwitchState.ALL);
  }

  /** Whether the key is in the canary of {@code state}. */
  public static boolean inCanary(SwitchState state, byte[] keyHash) {
    return bucket(state.salt(), keyHash) < state.canaryBasisPoints();
  }
}
