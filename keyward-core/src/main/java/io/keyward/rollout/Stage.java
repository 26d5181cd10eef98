package io.keyward.rollout;

import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * How far a risky path is rolled out: {@code off} (the control path only, the compiled-in
 * default), {@code shadow} (the candidate runs beside the control on a sample, never answering),
 * {@code canary} (the candidate answers for a stable share of keys, its denials confirmed by the
 * control), {@code on} (the candidate answers).
 */
public enum Stage {
  OFF,
  SHADOW,
  CANARY,
  ON;

  /** The stage's name in the API ({@code "canary"}). */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The stage named {@code text} ({@code off}, {@code shadow}, {@code canary}, {@code on}), or null. */
  public static @Nullable Stage parse(@Nullable String text) {
    if (text == null) {
      return null;
    }
    for (Stage stage : values()) {
      if (stage.label().equals(text)) {
        return stage;
      }
    }
    return null;
  }
}
