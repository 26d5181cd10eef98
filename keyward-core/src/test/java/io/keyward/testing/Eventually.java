package io.keyward.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * Waits for something that happens asynchronously (a Redis write, a pub/sub message, a heartbeat)
 * by polling, up to a generous limit. A wait for an outcome, not a measurement: tests never assert
 * how long it took.
 */
public final class Eventually {
  /** How long anything asynchronous in the tests may take before the test fails. */
  public static final Duration LIMIT = Duration.ofSeconds(15);

  private Eventually() {}

  /** Returns once {@code condition} holds; fails the test if it does not within {@link #LIMIT}. */
  public static void await(BooleanSupplier condition) {
    long deadline = System.nanoTime() + LIMIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within " + LIMIT);
      }
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting", e);
      }
    }
  }
}
