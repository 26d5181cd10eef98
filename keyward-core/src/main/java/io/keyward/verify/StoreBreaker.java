package io.keyward.verify;

import java.time.Clock;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A circuit breaker in front of the store's key lookups, so that a failing store costs a
 * verification nothing: after {@code threshold} failures in a row it opens for {@code openFor},
 * and while open no lookup is sent (a cached key is answered stale at once, an unseen key is
 * {@code UNAVAILABLE} at once) instead of every verification waiting for the pool's timeout.
 * Then one lookup at a time is let through as a probe; its success closes the breaker, its
 * failure opens it again.
 *
 * <p>Lock-free: a few volatile reads on the way in, one atomic update on the way out.
 */
final class StoreBreaker {
  private final Clock clock;
  private final int threshold;
  private final long openForMillis;
  private final AtomicInteger failuresInARow = new AtomicInteger();
  private final AtomicBoolean probing = new AtomicBoolean();
  /** While {@code now < openUntilMillis} no lookup is sent; 0 when closed. */
  private volatile long openUntilMillis;

  StoreBreaker(Clock clock, int threshold, long openForMillis) {
    this.clock = clock;
    this.threshold = threshold;
    this.openForMillis = openForMillis;
  }

  /**
   * Whether a lookup may be sent now. A caller that gets true must report back with {@link
   * #succeeded()} or {@link #failed()}, since it may be the one probe of a half-open breaker.
   */
  boolean allowsLookup() {
    long openUntil = openUntilMillis;
    if (openUntil == 0) {
      return true;
    }
    if (clock.millis() < openUntil) {
      return false;
    }
    return probing.compareAndSet(false, true);
  }

  void succeeded() {
    failuresInARow.set(0);
    openUntilMillis = 0;
    probing.set(false);
  }

  void failed() {
    int failures = failuresInARow.incrementAndGet();
    if (failures >= threshold || openUntilMillis != 0) {
      openUntilMillis = clock.millis() + openForMillis;
    }
    probing.set(false);
  }

  /** Whether lookups are being held back now (open, or half-open with its probe out). */
  boolean isOpen() {
    return openUntilMillis != 0;
  }
}
