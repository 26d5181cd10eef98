package io.keyward.key;

import java.math.BigInteger;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.regex.Pattern;

/**
 * Public key identifiers: {@code key_} and 22 base62 digits holding 48 bits of milliseconds since
 * the epoch and 80 random bits, so ids sort by creation time (useful for listing) and never
 * collide in practice. An id says nothing about the key's secret.
 */
public final class KeyIds {
  /** What an id looks like. */
  public static final Pattern PATTERN = Pattern.compile("key_[0-9A-Za-z]{22}");

  private static final int DIGITS = 22;
  private static final BigInteger BASE = BigInteger.valueOf(62);

  private final Clock clock;
  private final SecureRandom random;

  public KeyIds(Clock clock, SecureRandom random) {
    this.clock = clock;
    this.random = random;
  }

  /** A new id. */
  public String next() {
    byte[] bytes = new byte[16];
    random.nextBytes(bytes);
    long millis = clock.millis();
    for (int i = 0; i < 6; i++) {
      bytes[i] = (byte) (millis >>> (8 * (5 - i)));
    }
    BigInteger value = new BigInteger(1, bytes);
    char[] digits = new char[DIGITS];
    for (int i = DIGITS - 1; i >= 0; i--) {
      BigInteger[] qr = value.divideAndRemainder(BASE);
      digits[i] = Base62.ALPHABET.charAt(qr[1].intValue());
      value = qr[0];
    }
    return "key_" + new String(digits);
  }

  /** Whether {@code text} has the shape of an id. */
  public static boolean isWellFormed(String text) {
    return text != null && PATTERN.matcher(text).matches();
  }
}
