package io.keyward.verify;

import java.time.Duration;

/**
 * How the verifier caches. Validated on construction; immutable.
 *
 * @param freshFor how long a cached record is answered from without asking the store again
 * @param staleFor how long a cached record may still be answered from <em>while the store is
 *     failing</em>, counted from when it was loaded; never used while the store answers
 * @param notFoundFor how long a "no such key" answer is cached; never served stale
 * @param maxEntries the most records the in-process cache holds
 * @param loadWait how long a verification waits for a load another verification started
 * @param freshForWhenUnsynced the fresh window while the channel that carries other nodes'
 *     invalidations is down (see {@link RemoteInvalidations}); a value above {@code freshFor} is
 *     lowered to it
 */
public record VerifierSettings(
    Duration freshFor, Duration staleFor, Duration notFoundFor, long maxEntries, Duration loadWait,
    Duration freshForWhenUnsynced) {

  /** Fresh 30 s (2 s while unsynced), stale 10 min, not-found 5 s, 100,000 entries, wait 5 s. */
  public static final VerifierSettings DEFAULTS =
      new VerifierSettings(
          Duration.ofSeconds(30), Duration.ofMinutes(10), Duration.ofSeconds(5), 100_000,
          Duration.ofSeconds(5), Duration.ofSeconds(2));

  public VerifierSettings {
    requirePositive(freshFor, "freshFor");
    requirePositive(freshForWhenUnsynced, "freshForWhenUnsynced");
    if (freshForWhenUnsynced.compareTo(freshFor) > 0) {
      freshForWhenUnsynced = freshFor;
    }
    requirePositive(staleFor, "staleFor");
    requirePositive(notFoundFor, "notFoundFor");
    requirePositive(loadWait, "loadWait");
    if (staleFor.compareTo(freshFor) < 0) {
      throw new IllegalArgumentException(
          "staleFor (" + staleFor + ") must not be shorter than freshFor (" + freshFor + ")");
    }
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1, got " + maxEntries);
    }
  }

  public VerifierSettings withFreshForWhenUnsynced(Duration value) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, maxEntries, loadWait, value);
  }

  private static void requirePositive(Duration value, String name) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration, got " + value);
    }
  }

  public VerifierSettings withFreshFor(Duration value) {
    return new VerifierSettings(value, staleFor, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced);
  }

  public VerifierSettings withStaleFor(Duration value) {
    return new VerifierSettings(freshFor, value, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced);
  }

  public VerifierSettings withNotFoundFor(Duration value) {
    return new VerifierSettings(freshFor, staleFor, value, maxEntries, loadWait,
        freshForWhenUnsynced);
  }

  public VerifierSettings withMaxEntries(long value) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, value, loadWait,
        freshForWhenUnsynced);
  }
}
