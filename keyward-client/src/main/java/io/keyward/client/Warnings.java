package io.keyward.client;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Warnings through {@link System.Logger} (the platform's logging; SLF4J and Log4j have bridges),
 * each kind at most every 30 s, so that a Keyward that is down, or a flood of bad requests, does
 * not flood the log. The client's and the adapters' one way to warn.
 */
public final class Warnings {
  private static final long EVERY_MILLIS = 30_000;
  private final System.Logger log;
  private final ConcurrentHashMap<String, Long> last = new ConcurrentHashMap<>();

  public Warnings(Class<?> owner) {
    this.log = System.getLogger(owner.getName());
  }

  /** Logs {@code message} unless a warning of the same {@code kind} was logged in the last 30 s. */
  public void warn(String kind, String message) {
    long now = System.currentTimeMillis();
    Long before = last.get(kind);
    if (before != null && now - before < EVERY_MILLIS) {
      return;
    }
    // Whoever moves the time on logs: two threads at once log once.
    boolean mine = before == null ? last.putIfAbsent(kind, now) == null
        : last.replace(kind, before, now);
    if (mine) {
      log.log(System.Logger.Level.WARNING, message);
    }
  }
}
