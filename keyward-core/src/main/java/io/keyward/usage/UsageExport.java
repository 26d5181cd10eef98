package io.keyward.usage;

import java.util.Locale;
import java.util.Optional;

/**
 * What an exporter sends: the per-minute counts (the default: one message carries up to 100
 * counts, whatever the traffic, so a burst of a million verifications of one key is one count),
 * or every verification as an event of its own (for consumers that need each one: audit, abuse
 * detection; the outbox and the destination then carry a row per verification).
 */
public enum UsageExport {
  COUNTS,
  EVENTS;

  /** Its name in settings ({@code counts}, {@code events}). */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The kind named {@code text} (case-insensitive), or empty. */
  public static Optional<UsageExport> parse(String text) {
    for (UsageExport kind : values()) {
      if (kind.label().equalsIgnoreCase(text.strip())) {
        return Optional.of(kind);
      }
    }
    return Optional.empty();
  }
}
