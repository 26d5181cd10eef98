package io.keyward.cache.redis;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Skips Redis while it is failing. Closed: every call goes through. After {@code threshold}
 * failures in a row it opens for {@code openFor}: calls are skipped (each one a cache miss that
 * costs nothing). Then one call goes through as a probe; success closes it, failure opens it again.
 *
 * <p>Lock-free; the hot path when closed is one volatile read. About sixty lines, so not worth a
 * resilience library and its configuration surface.
 */
final class CircuitBreaker {
  private final Clock clock;
  private final int threshold;
  private final long openMillis;
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final AtomicBoolean probing = new AtomicBoolean();
  /** 0 while closed; otherwise when the next probe may go. */
  private volatile long openUntilMillis;

  CircuitBreaker(Clock clock, int threshold, Duration openFor) {
    if (threshold < 1) {
      throw new IllegalArgumentException("breaker threshold must be at least 1, got " + threshold);
    }
    this.clock = clock;
    this.threshold = threshold;
    this.openMillis = openFor.toMillis();
  }

  /** Whether a call may go to Redis now. */
  boolean allowsCall() {
    long openUntil = openUntilMillis;
    if (openUntil == 0) {
      return true;
    }
    return clock.millis() >= openUntil && probing.compareAndSet(false, true);
  }

  /** Whether the breaker is open (calls skipped, or one probe in flight). */
  boolean isOpen() {
    return openUntilMillis != 0;
  }

  void recordSuccess() {
    if (openUntilMillis != 0 || consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
      openUntilMillis = 0;
      probing.set(false);
    }
  }

  /** @return whether this failure opened the breaker */
  boolean recordFailure() {
    boolean wasProbe = probing.get();
    if (wasProbe || consecutiveFailures.incrementAndGet() >= threshold) {
      boolean opened = openUntilMillis == 0;
      openUntilMillis = clock.millis() + openMillis;
      probing.set(false);
      return opened;
    }
    return false;
  }
}
