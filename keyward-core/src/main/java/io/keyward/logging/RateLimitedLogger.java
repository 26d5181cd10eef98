package io.keyward.logging;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * A warning that is logged at most once per interval, saying how many were held back since.
 * For expected failures on hot paths (store errors, bad cache entries), where one log line per
 * request would itself become the outage (incident I-5).
 */
public final class RateLimitedLogger {
  private final Logger logger;
  private final Clock clock;
  private final long intervalMillis;
  private final AtomicLong nextAllowedMillis = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong suppressed = new AtomicLong();

  public RateLimitedLogger(Logger logger, Clock clock, Duration interval) {
    this.logger = logger;
    this.clock = clock;
    this.intervalMillis = interval.toMillis();
  }

  /**
   * Logs {@code message} (an SLF4J pattern) as a warning unless one was logged within the
   * interval. No stack trace is logged: pass the cause's message as an argument.
   */
  public void warn(String message, Object... arguments) {
    long now = clock.millis();
    long next = nextAllowedMillis.get();
    if (now < next || !nextAllowedMillis.compareAndSet(next, now + intervalMillis)) {
      suppressed.incrementAndGet();
      return;
    }
    long held = suppressed.getAndSet(0);
    if (held > 0) {
      logger.warn(message + " ({} similar warnings suppressed)", append(arguments, held));
    } else {
      logger.warn(message, arguments);
    }
  }

  private static Object[] append(Object[] arguments, long held) {
    Object[] all = java.util.Arrays.copyOf(arguments, arguments.length + 1);
    all[arguments.length] = held;
    return all;
  }
}
