package io.keyward.server;

import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The schema preflight's last finding, refreshed at most once a second, so that however often
 * {@code /health/ready} is called (it is never shed) it costs at most one query a second.
 */
final class CachedPreflight implements Supplier<@Nullable String> {
  private static final long REFRESH_NANOS = 1_000_000_000L;

  private final Supplier<@Nullable String> preflight;
  private volatile long checkedAtNanos;
  private volatile @Nullable String finding = "not checked yet";
  private volatile boolean checked;

  CachedPreflight(Supplier<@Nullable String> preflight) {
    this.preflight = preflight;
  }

  @Override
  public synchronized @Nullable String get() {
    long now = System.nanoTime();
    if (!checked || now - checkedAtNanos >= REFRESH_NANOS) {
      finding = preflight.get();
      checkedAtNanos = now;
      checked = true;
    }
    return finding;
  }
}
