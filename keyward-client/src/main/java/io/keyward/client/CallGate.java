package io.keyward.client;

import java.time.Clock;

/**
 * Whether the verifier may ask Keyward now, and whether it may ask again after a failure: a
 * circuit breaker (5 failures in a row stop calls for 1 s, then one call probes and its outcome
 * alone closes or reopens it) and a retry budget (each success banks a tenth of a retry, at most
 * 10; each retry spends one), so that retries never multiply the load on a Keyward in trouble.
 * One small lock: held only for a few field updates.
 */
final class CallGate {
  static final int BREAKER_THRESHOLD = 5;
  static final long BREAKER_OPEN_MILLIS = 1_000;
  private static final double RETRY_DEPOSIT = 0.1;
  private static final double RETRY_BANK = 10;

  /** What {@link #admit} says: the call may not go; it may; it may, as the breaker's probe. */
  enum Admission { REFUSED, CALL, PROBE }

  private final Clock clock;
  private int failuresInARow;
  private long openUntilMillis;
  private boolean probing;
  private double retryTokens = RETRY_BANK;

  CallGate(Clock clock) {
    this.clock = clock;
  }

  synchronized Admission admit() {
    if (failuresInARow < BREAKER_THRESHOLD) {
      return Admission.CALL;
    }
    if (clock.millis() < openUntilMillis || probing) {
      return Admission.REFUSED;
    }
    probing = true; // one call probes; the others wait for its outcome
    return Admission.PROBE;
  }

  /** The outcome of an admitted call ({@code probe}: it was the probe). */
  synchronized void record(boolean succeeded, boolean probe) {
    if (probe) {
      probing = false; // only the probe's own outcome ends the probe
    }
    if (succeeded) {
      failuresInARow = 0;
      retryTokens = Math.min(RETRY_BANK, retryTokens + RETRY_DEPOSIT);
      return;
    }
    failuresInARow++;
    if (failuresInARow >= BREAKER_THRESHOLD) {
      openUntilMillis = clock.millis() + BREAKER_OPEN_MILLIS;
    }
  }

  /** An admitted call that says nothing about Keyward (its caller was interrupted). */
  synchronized void abandon(boolean probe) {
    if (probe) {
      probing = false;
    }
  }

  /** Whether a retry may go now (and spends it). */
  synchronized boolean takeRetry() {
    if (retryTokens >= 1) {
      retryTokens -= 1;
      return true;
    }
    return false;
  }
}
