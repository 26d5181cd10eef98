package io.keyward.rollout;

/**
 * When the guard turns a switch back to {@code off} by itself: on the first confirmed false
 * denial (the candidate denied a key the control allowed), or when the candidate's error or
 * timeout rate exceeds its limit over at least {@code minimumSample} comparisons.
 *
 * @param minimumSample comparisons needed before a rate is judged
 * @param maxErrorRate the highest share of candidate errors tolerated (0..1)
 * @param maxTimeoutRate the highest share of candidate timeouts tolerated (0..1)
 * @param candidateTimeoutMillis how long a candidate may take before it counts as timed out
 */
public record GuardRules(int minimumSample, double maxErrorRate, double maxTimeoutRate,
    long candidateTimeoutMillis) {
  /** 200 comparisons, 1% errors, 1% timeouts, 100 ms. */
  public static final GuardRules DEFAULTS = new GuardRules(200, 0.01, 0.01, 100);

  public GuardRules {
    if (minimumSample < 1 || minimumSample > 1_000_000) {
      throw new IllegalArgumentException("minimumSample must be from 1 to 1000000, got "
          + minimumSample);
    }
    if (!(maxErrorRate >= 0 && maxErrorRate <= 1)) {
      throw new IllegalArgumentException("maxErrorRate must be from 0 to 1, got " + maxErrorRate);
    }
    if (!(maxTimeoutRate >= 0 && maxTimeoutRate <= 1)) {
      throw new IllegalArgumentException("maxTimeoutRate must be from 0 to 1, got "
          + maxTimeoutRate);
    }
    if (candidateTimeoutMillis < 1 || candidateTimeoutMillis > 60_000) {
      throw new IllegalArgumentException("candidateTimeoutMillis must be from 1 to 60000, got "
          + candidateTimeoutMillis);
    }
  }
}
