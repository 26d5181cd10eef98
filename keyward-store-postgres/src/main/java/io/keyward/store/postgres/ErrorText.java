package io.keyward.store.postgres;

import org.jspecify.annotations.Nullable;

/**
 * The one-line messages Keyward prints for database failures: PostgreSQL's and Flyway's messages
 * run over several lines (detail, hint, position), and the useful one is often a cause's.
 */
public final class ErrorText {
  private ErrorText() {}

  /** The first line of {@code text}, stripped; empty for null. */
  public static String firstLine(@Nullable String text) {
    if (text == null) {
      return "";
    }
    int newline = text.indexOf('\n');
    return (newline < 0 ? text : text.substring(0, newline)).strip();
  }

  /** The message of the deepest cause of {@code e} (its class name if it has none). */
  public static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
  }
}
