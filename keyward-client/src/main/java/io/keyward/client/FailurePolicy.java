package io.keyward.client;

import java.time.Duration;
import java.util.Objects;

/**
 * What a route does when Keyward cannot be asked. Chosen per route, explicitly:
 *
 * <ul>
 *   <li>{@link #closed()} (the default): {@link Decision.CannotDecide}, a 503 with
 *       {@code Retry-After}, never a 401;
 *   <li>{@link #staleOk(Duration)}: a key this client saw VALID within {@code maxStale} is
 *       allowed ({@link Decision.Basis#STALE}); never a "not found" or any other denial, which is
 *       kept only for its short negative window;
 *   <li>{@link #open()}: allowed without a verdict ({@link Decision.Basis#OPEN}), for routes that
 *       choose availability over authentication; opted into by name.
 * </ul>
 *
 * Every stale or open decision is counted ({@link VerifierStats}) and marked on the
 * decision ({@link Decision.Allowed#degraded()}).
 */
public sealed interface FailurePolicy {
  record Closed() implements FailurePolicy {}

  record StaleOk(Duration maxStale) implements FailurePolicy {
    public StaleOk {
      Objects.requireNonNull(maxStale, "maxStale");
      if (maxStale.isNegative() || maxStale.isZero() || maxStale.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("stale-ok needs a bound from 1 ms to 1 day, got "
            + maxStale);
      }
    }
  }

  record Open() implements FailurePolicy {}

  static FailurePolicy closed() {
    return new Closed();
  }

  static FailurePolicy staleOk(Duration maxStale) {
    return new StaleOk(maxStale);
  }

  static FailurePolicy open() {
    return new Open();
  }

  /**
   * Reads {@code closed}, {@code open} or {@code stale-ok:<duration>} ({@code stale-ok:5m},
   * {@code stale-ok:300s}, {@code stale-ok:PT5M}), as in settings files.
   *
   * @throws IllegalArgumentException naming the text when it is none of those
   */
  static FailurePolicy parse(String text) {
    String t = text == null ? "" : text.strip();
    if (t.equals("closed")) {
      return closed();
    }
    if (t.equals("open")) {
      return open();
    }
    if (t.startsWith("stale-ok:")) {
      String d = t.substring("stale-ok:".length());
      try {
        Duration bound;
        if (d.startsWith("PT") || d.startsWith("pt")) {
          bound = Duration.parse(d.toUpperCase(java.util.Locale.ROOT));
        } else if (d.endsWith("ms")) {
          bound = Duration.ofMillis(Long.parseLong(d.substring(0, d.length() - 2)));
        } else if (d.endsWith("s")) {
          bound = Duration.ofSeconds(Long.parseLong(d.substring(0, d.length() - 1)));
        } else if (d.endsWith("m")) {
          bound = Duration.ofMinutes(Long.parseLong(d.substring(0, d.length() - 1)));
        } else if (d.endsWith("h")) {
          bound = Duration.ofHours(Long.parseLong(d.substring(0, d.length() - 1)));
        } else {
          throw new IllegalArgumentException("no unit");
        }
        return staleOk(bound);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("failure policy '" + t + "': stale-ok needs a bound"
            + " such as stale-ok:5m (ms, s, m, h or an ISO-8601 duration)");
      }
    }
    throw new IllegalArgumentException("failure policy must be closed, stale-ok:<bound> or open,"
        + " got '" + t + "'");
  }
}
