package io.keyward.usage;

import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/** The width of a usage bucket, and how far back each is kept by default. */
public enum Granularity {
  MINUTE(Duration.ofMinutes(1)),
  HOUR(Duration.ofHours(1)),
  DAY(Duration.ofDays(1));

  /** Most buckets one query may span. */
  public static final int MAX_BUCKETS = 10_000;

  private final Duration width;

  Granularity(Duration width) {
    this.width = width;
  }

  public Duration width() {
    return width;
  }

  /** Its name in the API ({@code minute}, {@code hour}, {@code day}). */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The granularity named {@code text}, or empty. */
  public static Optional<Granularity> parse(String text) {
    for (Granularity g : values()) {
      if (g.label().equals(text)) {
        return Optional.of(g);
      }
    }
    return Optional.empty();
  }

  /** The start of the bucket holding {@code epochMillis}. */
  public long bucketOf(long epochMillis) {
    long w = width.toMillis();
    return Math.floorDiv(epochMillis, w) * w;
  }
}
