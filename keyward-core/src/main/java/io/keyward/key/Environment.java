package io.keyward.key;

import java.util.Optional;

/** Which of a customer's environments a key belongs to; part of the key text. */
public enum Environment {
  LIVE("live"),
  TEST("test");

  private final String label;

  Environment(String label) {
    this.label = label;
  }

  /** The label as it appears in keys and in the API: {@code live} or {@code test}. */
  public String label() {
    return label;
  }

  /** Parses {@code live} or {@code test}. */
  public static Optional<Environment> fromLabel(String label) {
    for (Environment environment : values()) {
      if (environment.label.equals(label)) {
        return Optional.of(environment);
      }
    }
    return Optional.empty();
  }
}
