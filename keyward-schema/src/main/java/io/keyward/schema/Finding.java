package io.keyward.schema;

import org.jspecify.annotations.Nullable;

/**
 * One finding of {@code db lint}: where ({@code file:line}), which rule, how bad, what happened
 * (with its evidence), and how to fix it.
 *
 * @param allowedBecause the reason of an {@code allow} comment in the file, or null
 */
public record Finding(String file, int line, String rule, Severity severity, String message,
    String fix, @Nullable String allowedBecause) {

  /** How bad a finding is. Errors fail the lint; warnings only with {@code --strict}. */
  public enum Severity {
    ERROR,
    WARNING;

    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Whether it counts towards the exit code. */
  public boolean counts(boolean strict) {
    return allowedBecause == null && (severity == Severity.ERROR || strict);
  }

  Finding allowed(String reason) {
    return new Finding(file, line, rule, severity, message, fix, reason);
  }

  /** {@code file:line rule-id severity message}, then the fix. */
  public String text() {
    return file + ":" + line + " " + rule + " " + severity.label()
        + (allowedBecause == null ? "" : " (allowed: " + allowedBecause + ")") + " " + message
        + "\n    fix: " + fix;
  }
}
