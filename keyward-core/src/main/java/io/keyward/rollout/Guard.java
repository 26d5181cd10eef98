package io.keyward.rollout;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * Watches each switch's comparisons and turns it off by itself: at the first confirmed false
 * denial, or when the candidate's error or timeout rate exceeds its rule over at least the rule's
 * minimum sample. Counts start again at each new version of the switch, and a version trips once.
 */
public final class Guard {
  /** What the guard does when a rule trips: write the revert (with its evidence) to the store. */
  @FunctionalInterface
  public interface Revert {
    void revert(SwitchState state, String evidence);
  }

  /** A switch's counts under its current version. */
  public record State(long version, long comparisons, long errors, long timeouts,
      long falseDenials, boolean tripped, @Nullable String evidence) {}

  private final Map<String, Counts> counts = new ConcurrentHashMap<>();
  private final Revert revert;

  public Guard(Revert revert) {
    this.revert = revert;
  }

  private static final class Counts {
    final long version;
    final LongAdder comparisons = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder timeouts = new LongAdder();
    final LongAdder falseDenials = new LongAdder();
    final AtomicBoolean tripped = new AtomicBoolean();
    volatile @Nullable String evidence;

    Counts(long version) {
      this.version = version;
    }
  }

  /** The counts of {@code state}'s version, or null for a version older than the one counted. */
  private @Nullable Counts countsOf(SwitchState state) {
    Counts current = counts.get(state.name());
    if (current == null || current.version < state.version()) {
      Counts fresh = new Counts(state.version());
      current = counts.merge(state.name(), fresh,
          (old, next) -> old.version >= next.version ? old : next);
    }
    // A comparison still queued from an older version must not reset (or trip) the newer one.
    return current.version == state.version() ? current : null;
  }

  /**
   * Records one run of the candidate under {@code state}: {@code kind} is how it disagreed, or
   * null when it agreed (or answered and was not compared).
   *
   * @return whether this run tripped the guard (the revert has been handed over)
   */
  public boolean record(SwitchState state, Disagreement.@Nullable Kind kind, String keyId) {
    Counts c = countsOf(state);
    if (c == null) {
      return false;
    }
    c.comparisons.increment();
    if (kind == null) {
      return checkRates(state, c);
    }
    switch (kind) {
      case CANDIDATE_DENIES_ALLOWED -> {
        c.falseDenials.increment();
        return trip(state, c, "a confirmed false denial: the candidate denied key " + keyId
            + ", which the control allowed");
      }
      case CANDIDATE_ERROR -> c.errors.increment();
      case CANDIDATE_TIMEOUT -> c.timeouts.increment();
      case CANDIDATE_ALLOWS_DENIED -> { }
    }
    return checkRates(state, c);
  }

  private boolean checkRates(SwitchState state, Counts c) {
    long n = c.comparisons.sum();
    GuardRules rules = state.rules();
    if (n < rules.minimumSample()) {
      return false;
    }
    long errors = c.errors.sum();
    long timeouts = c.timeouts.sum();
    if (errors > rules.maxErrorRate() * n) {
      return trip(state, c, "candidate errors: " + errors + " of " + n + " runs, above "
          + percent(rules.maxErrorRate()) + " over the minimum sample of " + rules.minimumSample());
    } else if (timeouts > rules.maxTimeoutRate() * n) {
      return trip(state, c, "candidate timeouts: " + timeouts + " of " + n + " runs (over "
          + rules.candidateTimeoutMillis() + " ms), above " + percent(rules.maxTimeoutRate())
          + " over the minimum sample of " + rules.minimumSample());
    }
    return false;
  }

  private boolean trip(SwitchState state, Counts c, String evidence) {
    if (c.tripped.compareAndSet(false, true)) {
      c.evidence = evidence;
      try {
        revert.revert(state, evidence); // hands over; must not touch the caller's verdict
      } catch (RuntimeException e) {
        org.slf4j.LoggerFactory.getLogger(Guard.class).warn("switch {} tripped but its revert"
            + " could not be handed over (off on this node regardless): {}", state.name(),
            e.toString());
      }
      return true;
    }
    return false;
  }

  private static String percent(double share) {
    return (share * 100) + "%";
  }

  /** The counts of a switch under its current version (zeros if it has none). */
  public State state(SwitchState state) {
    Counts c = counts.get(state.name());
    if (c == null || c.version != state.version()) {
      return new State(state.version(), 0, 0, 0, 0, false, null);
    }
    return new State(c.version, c.comparisons.sum(), c.errors.sum(), c.timeouts.sum(),
        c.falseDenials.sum(), c.tripped.get(), c.evidence);
  }
}
