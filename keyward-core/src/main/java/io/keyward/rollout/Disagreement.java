package io.keyward.rollout;

import io.keyward.verify.Outcome;
import java.time.Instant;
import org.jspecify.annotations.Nullable;

/**
 * A verification where the candidate path and the control path did not agree, kept with the key's
 * id and both outcomes (never the key).
 *
 * @param keyId the key's id when either path knew the key, else null
 * @param candidate the candidate's outcome, null when it failed or timed out
 * @param detail the candidate's error, or how long it took when it timed out
 */
public record Disagreement(Instant at, String switchName, long switchVersion, Kind kind,
    @Nullable String keyId, Outcome control, @Nullable Outcome candidate, @Nullable String detail) {

  /** How the candidate disagreed. */
  public enum Kind {
    /** The candidate denied a key the control allowed: a false denial, the worst kind. */
    CANDIDATE_DENIES_ALLOWED,
    /** The candidate allowed a key the control denied. */
    CANDIDATE_ALLOWS_DENIED,
    /** The candidate threw, or could not decide. */
    CANDIDATE_ERROR,
    /** The candidate took longer than the guard allows. */
    CANDIDATE_TIMEOUT;

    /** The kind's name in the API and the metrics. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
