package io.keyward.rollout;

/**
 * One switch as stored: its stage, the share of keys in its canary and of verifications sampled
 * in shadow (basis points, 0..10,000), the version of its last change, the salt that picks its
 * canary keys (fixed for the switch's life, so a canary that goes back and forth takes the same
 * keys), and its guard's rules.
 */
public record SwitchState(String name, Stage stage, int canaryBasisPoints, int sampleBasisPoints,
    long version, long salt, GuardRules rules) {
  /** The whole range of basis points. */
  public static final int ALL = 10_000;

  public SwitchState {
    if (canaryBasisPoints < 0 || canaryBasisPoints > ALL) {
      throw new IllegalArgumentException("canaryBasisPoints must be from 0 to 10000, got "
          + canaryBasisPoints);
    }
    if (sampleBasisPoints < 0 || sampleBasisPoints > ALL) {
      throw new IllegalArgumentException("sampleBasisPoints must be from 0 to 10000, got "
          + sampleBasisPoints);
    }
  }

  /** The compiled-in default of a switch never read: off, the control path. */
  public static SwitchState controlPath(String name) {
    return new SwitchState(name, Stage.OFF, 0, 0, 0, 0, GuardRules.DEFAULTS);
  }
}
