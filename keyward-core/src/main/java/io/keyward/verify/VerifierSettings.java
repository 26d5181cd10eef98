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
 * @param staleWait how long a verification of a key with a usable stale entry waits for its
 *     reload before answering from the stale entry ("the store is too slow to wait for")
 * @param maxUnseenLoads the most store lookups at once of keys this node holds no record of
 *     (unknown, made-up or new keys): a bulkhead, so a flood of garbage cannot take the pool
 *     from the reloads of keys that are cached
 * @param maxRefreshLoads the most reloads at once of keys this node holds a record of; a
 *     reload that finds no room answers from the stale entry
 * @param breakerThreshold store lookup failures in a row that open the store breaker
 * @param breakerOpenFor how long the open breaker holds lookups back before one probe
 */
public record VerifierSettings(
    Duration freshFor, Duration staleFor, Duration notFoundFor, long maxEntries, Duration loadWait,
    Duration freshForWhenUnsynced, Duration staleWait, int maxUnseenLoads, int maxRefreshLoads,
    int breakerThreshold, Duration breakerOpenFor) {

  /**
   * Fresh 30 s (2 s while unsynced), stale 10 min, not-found 5 s, 100,000 entries, wait 5 s
   * (20 ms when a stale entry can answer), 8 lookups of unseen keys and 16 reloads at once, the
   * store breaker opens after 3 failures in a row for 1 s.
   */
  public static final VerifierSettings DEFAULTS =
      new VerifierSettings(
          Duration.ofSeconds(30), Duration.ofMinutes(10), Duration.ofSeconds(5), 100_000,
          Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofMillis(20), 8, 16, 3,
          Duration.ofSeconds(1));

  /** These windows and limits, with the default stale wait, bulkheads and breaker. */
  public VerifierSettings(
      Duration freshFor, Duration staleFor, Duration notFoundFor, long maxEntries,
      Duration loadWait, Duration freshForWhenUnsynced) {
    this(freshFor, staleFor, notFoundFor, maxEntries, loadWait, freshForWhenUnsynced,
        Duration.ofMillis(20), 8, 16, 3, Duration.ofSeconds(1));
  }

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
    requirePositive(staleWait, "staleWait");
    if (staleWait.compareTo(loadWait) > 0) {
      throw new IllegalArgumentException(
          "staleWait (" + staleWait + ") must not be longer than loadWait (" + loadWait + ")");
    }
    if (maxUnseenLoads < 1) {
      throw new IllegalArgumentException("maxUnseenLoads must be at least 1, got " + maxUnseenLoads);
    }
    if (maxRefreshLoads < 1) {
      throw new IllegalArgumentException("maxRefreshLoads must be at least 1, got " + maxRefreshLoads);
    }
    if (breakerThreshold < 1) {
      throw new IllegalArgumentException(
          "breakerThreshold must be at least 1, got " + breakerThreshold);
    }
    requirePositive(breakerOpenFor, "breakerOpenFor");
  }

  public VerifierSettings withStaleWait(Duration value) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced, value, maxUnseenLoads, maxRefreshLoads, breakerThreshold,
        breakerOpenFor);
  }

  /** The bulkheads: lookups of unseen keys and reloads of cached ones at once. */
  public VerifierSettings withLoadLimits(int unseen, int refresh) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced, staleWait, unseen, refresh, breakerThreshold, breakerOpenFor);
  }

  public VerifierSettings withBreaker(int threshold, Duration openFor) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced, staleWait, maxUnseenLoads, maxRefreshLoads, threshold, openFor);
  }

  public VerifierSettings withFreshForWhenUnsynced(Duration value) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, maxEntries, loadWait,
        value, staleWait, maxUnseenLoads, maxRefreshLoads, breakerThreshold, breakerOpenFor);
  }

  private static void requirePositive(Duration value, String name) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be a positive duration, got " + value);
    }
  }

  public VerifierSettings withFreshFor(Duration value) {
    return new VerifierSettings(value, staleFor, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced, staleWait, maxUnseenLoads, maxRefreshLoads, breakerThreshold, breakerOpenFor);
  }

  public VerifierSettings withStaleFor(Duration value) {
    return new VerifierSettings(freshFor, value, notFoundFor, maxEntries, loadWait,
        freshForWhenUnsynced, staleWait, maxUnseenLoads, maxRefreshLoads, breakerThreshold, breakerOpenFor);
  }

  public VerifierSettings withNotFoundFor(Duration value) {
    return new VerifierSettings(freshFor, staleFor, value, maxEntries, loadWait,
        freshForWhenUnsynced, staleWait, maxUnseenLoads, maxRefreshLoads, breakerThreshold, breakerOpenFor);
  }

  public VerifierSettings withMaxEntries(long value) {
    return new VerifierSettings(freshFor, staleFor, notFoundFor, value, loadWait,
        freshForWhenUnsynced, staleWait, maxUnseenLoads, maxRefreshLoads, breakerThreshold, breakerOpenFor);
  }
}
