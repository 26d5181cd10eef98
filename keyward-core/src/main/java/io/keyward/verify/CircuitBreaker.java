package io.keyward.verify;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Skips a dependency while it is failing: the key store (in front of the verifier's lookups, so a
 * failing store costs a verification nothing) and Redis (each skipped call a cache miss). Closed:
 * every call goes through. After {@code threshold} failures in a row it opens for {@code
 * openFor}: calls are skipped. Then one call goes through as a probe; success closes it, failure
 * opens it again. A caller that is allowed through must report back with {@link
 * #recordSuccess()} or {@link #recordFailure()}, since it may be the probe.
 *
 * <p>Lock-free; the hot path when closed is one volatile read. About sixty lines, so not worth a
 * resilience library and its configuration surface.
 */
public final class CircuitBreaker {
  private final Clock clock;
  private final int threshold;
  private final long openMillis;
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final AtomicBoolean probing = new AtomicBoolean();
  /** 0 while closed; otherwise when the next probe may go. */
  private volatile long openUntilMillis;

  public CircuitBreaker(Clock clock, int threshold, Duration openFor) {
    if (threshold < 1) {
      throw new IllegalArgumentException("breaker threshold must be at least 1, got " + threshold);
    }
    this.clock = clock;
    this.threshold = threshold;
    this.openMillis = openFor.toMillis();
  }

  /** Whether a call may go to Redis now. */
  public boolean allowsCall() {
    long openUntil = openUntilMillis;
    if (openUntil == 0) {
      return true;
    }
    return clock.millis() >= openUntil && probing.compareAndSet(false, true);
  }

  /**
   * Whether calls are being skipped right now (open, and not yet time for a probe); unlike
   * {@link #allowsCall()} it never takes the probe, so it may be asked freely.
   */
  public boolean isSkipping() {
    long openUntil = openUntilMillis;
    return openUntil != 0 && (clock.millis() < openUntil || probing.get());
  }

  /** Whether the breaker is open (calls skipped, or one probe in flight). */
  public boolean isOpen() {
    return openUntilMillis != 0;
  }

  public void recordSuccess() {
    if (openUntilMillis != 0 || consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
      openUntilMillis = 0;
      probing.set(false);
    }
  }

  /** @return whether this failure opened the breaker */
  public boolean recordFailure() {
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
