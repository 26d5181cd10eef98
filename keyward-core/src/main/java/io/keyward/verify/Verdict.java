package io.keyward.verify;

import io.keyward.key.KeyRecord;
import io.keyward.key.MalformedReason;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The answer to "is this key valid?". Three kinds, so that the compiler keeps "cannot decide" from
 * being read as "invalid": a caller must handle {@link Unavailable} on its own.
 */
public sealed interface Verdict {

  /** The outcome code of this verdict. */
  Outcome outcome();

  /** The key is valid and has the required scopes. */
  record Valid(KeyRecord key) implements Verdict {
    public Valid {
      Objects.requireNonNull(key, "key");
    }

    @Override
    public Outcome outcome() {
      return Outcome.VALID;
    }
  }

  /**
   * A decided "no".
   *
   * @param key the record, when the key is known (revoked, expired, disabled, lacking scope)
   * @param malformedReason why, when the outcome is {@link Outcome#MALFORMED}
   */
  record Denied(Outcome outcome, @Nullable KeyRecord key, @Nullable MalformedReason malformedReason)
      implements Verdict {
    public Denied {
      if (!outcome.isDenial()) {
        throw new IllegalArgumentException(outcome + " is not a denial");
      }
    }

    private static final Denied NOT_FOUND = new Denied(Outcome.NOT_FOUND, null, null);
    private static final Denied[] MALFORMED = new Denied[MalformedReason.values().length];

    static {
      for (MalformedReason reason : MalformedReason.values()) {
        MALFORMED[reason.ordinal()] = new Denied(Outcome.MALFORMED, null, reason);
      }
    }

    /** The shared "no such key" verdict. */
    public static Denied notFound() {
      return NOT_FOUND;
    }

    /** The shared verdict for a malformed key. */
    public static Denied malformed(MalformedReason reason) {
      return MALFORMED[reason.ordinal()];
    }

    /** A denial of a known key. */
    public static Denied of(Outcome outcome, KeyRecord key) {
      return new Denied(outcome, key, null);
    }
  }

  /** No decision is possible now; the caller should retry, and must not treat it as a denial. */
  record Unavailable(String reason) implements Verdict {
    @Override
    public Outcome outcome() {
      return Outcome.UNAVAILABLE;
    }
  }
}
