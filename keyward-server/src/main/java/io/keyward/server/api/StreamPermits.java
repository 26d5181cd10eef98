package io.keyward.server.api;

/**
 * A long-lived request (an invalidation stream) takes a load-shedding permit like any request
 * while it is authenticated, so that a flood of unauthenticated streams is shed like any other
 * flood, and gives it back once it is authenticated, so that the streams a node serves for hours
 * do not hold the permits its short requests need. The permit travels with the request's thread
 * (filter and handler run on one thread).
 */
public final class StreamPermits {
  private static final ThreadLocal<Runnable> HELD = new ThreadLocal<>();

  private StreamPermits() {}

  /** The filter: this thread holds a permit, given back by {@code release}. */
  public static void hold(Runnable release) {
    HELD.set(release);
  }

  /** Gives this thread's permit back, if it still holds one (idempotent). */
  public static void release() {
    Runnable release = HELD.get();
    if (release != null) {
      HELD.remove();
      release.run();
    }
  }
}
