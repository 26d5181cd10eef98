package io.keyward.verify;

/**
 * Receives one event per decided verification (usage counting, last-used times, billing).
 *
 * <p>Contract, from incident I-2: {@link #accept} must return at once and must never fail the
 * verification; an implementation hands the event to a bounded queue and drops (and counts) what
 * does not fit. The verifier calls it after the verdict is fixed and swallows anything it throws.
 */
@FunctionalInterface
public interface UsageSink {

  /** Takes note of a verification; must not block. */
  void accept(UsageEvent event);

  /** Discards every event. */
  UsageSink NONE = event -> {};

  /** One verification of a known key. */
  record UsageEvent(String keyId, String ownerId, Outcome outcome, long atEpochMillis) {}
}
