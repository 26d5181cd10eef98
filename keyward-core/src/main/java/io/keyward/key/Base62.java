package io.keyward.key;

import java.security.SecureRandom;

/**
 * The base62 alphabet Keyward keys and ids are written in, in ASCII order ({@code 0-9A-Z a-z}) so
 * that fixed-width encodings sort the same as the numbers they encode.
 */
public final class Base62 {
  /** The 62 digits, in ASCII (and numeric) order. */
  public static final String ALPHABET =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

  private static final byte[] DIGIT_VALUES = new byte[128];

  static {
    java.util.Arrays.fill(DIGIT_VALUES, (byte) -1);
    for (int i = 0; i < ALPHABET.length(); i++) {
      DIGIT_VALUES[ALPHABET.charAt(i)] = (byte) i;
    }
  }

  private Base62() {}

  /** Returns the value (0..61) of a base62 digit, or -1 if {@code c} is not one. */
  public static int digitValue(char c) {
    return c < 128 ? DIGIT_VALUES[c] : -1;
  }

  /**
   * Appends {@code count} base62 digits drawn uniformly from {@code random} (rejection sampling, so
   * each digit carries log2(62) ~ 5.95 bits of entropy without modulo bias).
   */
  public static void appendRandom(StringBuilder out, SecureRandom random, int count) {
    byte[] buffer = new byte[count + 16];
    int produced = 0;
    while (produced < count) {
      random.nextBytes(buffer);
      for (int i = 0; i < buffer.length && produced < count; i++) {
        int sixBits = buffer[i] & 0x3F; // 0..63; reject 62 and 63
        if (sixBits < 62) {
          out.append(ALPHABET.charAt(sixBits));
          produced++;
        }
      }
    }
  }

  /** Appends {@code value} (non-negative) as exactly {@code width} base62 digits, big-endian. */
  public static void appendFixed(StringBuilder out, long value, int width) {
    if (value < 0) {
      throw new IllegalArgumentException("value must not be negative: " + value);
    }
    char[] digits = new char[width];
    long rest = value;
    for (int i = width - 1; i >= 0; i--) {
      digits[i] = ALPHABET.charAt((int) (rest % 62));
      rest /= 62;
    }
    if (rest != 0) {
      throw new IllegalArgumentException(value + " does not fit in " + width + " base62 digits");
    }
    out.append(digits);
  }

  /**
   * Decodes {@code length} base62 digits of {@code text} starting at {@code from} as a big-endian
   * number, or returns -1 if any of them is not a base62 digit. At most 10 digits (62^10 < 2^63).
   */
  public static long decodeFixed(CharSequence text, int from, int length) {
    long value = 0;
    for (int i = from; i < from + length; i++) {
      int digit = digitValue(text.charAt(i));
      if (digit < 0) {
        return -1;
      }
      value = value * 62 + digit;
    }
    return value;
  }

  /** As {@link #decodeFixed(CharSequence, int, int)}, over ASCII bytes. */
  public static long decodeFixed(byte[] text, int from, int length) {
    long value = 0;
    for (int i = from; i < from + length; i++) {
      int digit = text[i] < 0 ? -1 : digitValue((char) text[i]);
      if (digit < 0) {
        return -1;
      }
      value = value * 62 + digit;
    }
    return value;
  }
}
