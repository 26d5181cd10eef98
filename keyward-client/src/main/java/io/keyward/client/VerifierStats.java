package io.keyward.client;

import java.util.concurrent.atomic.LongAdder;

/** {@link KeywardVerifier}'s counters since start: what a service exports as metrics. */
public final class VerifierStats {
  VerifierStats() {}

  /** Every verification that was not a cache hit (a hit counts once, in cacheHits). */
  final LongAdder uncached = new LongAdder();
  final LongAdder cacheHits = new LongAdder();
  final LongAdder remoteCalls = new LongAdder();
  final LongAdder sharedLoads = new LongAdder();
  final LongAdder retries = new LongAdder();
  final LongAdder breakerRejected = new LongAdder();
  final LongAdder denied = new LongAdder();
  final LongAdder staleAllowed = new LongAdder();
  final LongAdder openAllowed = new LongAdder();
  final LongAdder cannotDecide = new LongAdder();
  final LongAdder invalidations = new LongAdder();
  final LongAdder streamLosses = new LongAdder();

  public long requests() {
    return uncached.sum() + cacheHits.sum();
  }

  public long cacheHits() {
    return cacheHits.sum();
  }

  /** HTTP requests to Keyward, retries included. */
  public long remoteCalls() {
    return remoteCalls.sum();
  }

  /** Callers that waited for another's request for the same key. */
  public long sharedLoads() {
    return sharedLoads.sum();
  }

  public long retries() {
    return retries.sum();
  }

  /** Calls the open circuit kept from Keyward. */
  public long breakerRejected() {
    return breakerRejected.sum();
  }

  public long denied() {
    return denied.sum();
  }

  /** Allowed from a stale cached VALID because Keyward could not be asked (stale-ok). */
  public long staleAllowed() {
    return staleAllowed.sum();
  }

  /** Allowed without a verdict because Keyward could not be asked (open). */
  public long openAllowed() {
    return openAllowed.sum();
  }

  public long cannotDecide() {
    return cannotDecide.sum();
  }

  /** Keys dropped from the cache because the stream said they changed. */
  public long invalidations() {
    return invalidations.sum();
  }

  /** Times the stream was lost (or the server's channel was). */
  public long streamLosses() {
    return streamLosses.sum();
  }

  @Override
  public String toString() {
    return "requests=" + requests() + " cacheHits=" + cacheHits() + " remoteCalls="
        + remoteCalls() + " retries=" + retries() + " breakerRejected=" + breakerRejected()
        + " denied=" + denied() + " staleAllowed=" + staleAllowed() + " openAllowed="
        + openAllowed() + " cannotDecide=" + cannotDecide() + " invalidations="
        + invalidations() + " streamLosses=" + streamLosses();
  }
}
