package io.keyward.key;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The SHA-256 of a key's ASCII text: the only form in which a key is stored, cached or compared.
 * Held as four longs so that it is one small allocation and a cheap map key.
 */
public record KeyHash(long h0, long h1, long h2, long h3) {
  /** Length of the hash in bytes. */
  public static final int LENGTH_BYTES = 32;

  private static final MessageDigest PROTOTYPE = newDigest();
  private static final boolean CLONEABLE = isCloneable();
  private static final HexFormat HEX = HexFormat.of();
  private static final VarHandle BIG_ENDIAN_LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

  /**
   * Hashes a key. Keys are printable ASCII (the parser rejects anything else before this is
   * called), so each character is one byte, the same bytes as UTF-8.
   */
  public static KeyHash of(CharSequence key) {
    int length = key.length();
    byte[] bytes = new byte[length];
    for (int i = 0; i < length; i++) {
      bytes[i] = (byte) key.charAt(i);
    }
    return ofAscii(bytes);
  }

  /**
   * Hashes a key given as its ASCII bytes ({@link KeyFormat#asciiBytes} of a key the parser
   * accepted); the same hash as {@link #of} of the key's text.
   */
  public static KeyHash ofAscii(byte[] ascii) {
    return fromBytes(digest().digest(ascii));
  }

  /** The hash held in 32 bytes, big-endian. */
  public static KeyHash fromBytes(byte[] bytes) {
    if (bytes == null || bytes.length != LENGTH_BYTES) {
      throw new IllegalArgumentException(
          "a key hash is " + LENGTH_BYTES + " bytes, got " + (bytes == null ? "none" : bytes.length));
    }
    return new KeyHash(longAt(bytes, 0), longAt(bytes, 8), longAt(bytes, 16), longAt(bytes, 24));
  }

  /**
   * Parses 64 hexadecimal digits (either case).
   *
   * @throws IllegalArgumentException saying what is wrong with the text
   */
  public static KeyHash fromHex(String hex) {
    if (hex == null || hex.length() != LENGTH_BYTES * 2) {
      throw new IllegalArgumentException(
          "a SHA-256 hash is 64 hexadecimal digits, got " + (hex == null ? "none" : hex.length()));
    }
    for (int i = 0; i < hex.length(); i++) {
      if (Character.digit(hex.charAt(i), 16) < 0) {
        throw new IllegalArgumentException("not a hexadecimal digit at position " + i);
      }
    }
    return fromBytes(HEX.parseHex(hex));
  }

  /** The 32 bytes, big-endian. */
  public byte[] toBytes() {
    byte[] bytes = new byte[LENGTH_BYTES];
    putLong(bytes, 0, h0);
    putLong(bytes, 8, h1);
    putLong(bytes, 16, h2);
    putLong(bytes, 24, h3);
    return bytes;
  }

  /** 64 lowercase hexadecimal digits. */
  public String toHex() {
    return HEX.formatHex(toBytes());
  }

  /**
   * Compares with another hash in time independent of where they differ. Used where a hash read
   * from a cache or store is checked against the hash of the presented key.
   */
  public boolean matchesInConstantTime(KeyHash other) {
    long diff = (h0 ^ other.h0) | (h1 ^ other.h1) | (h2 ^ other.h2) | (h3 ^ other.h3);
    return diff == 0;
  }

  /** Not the hash: records print as their class name, so a hash never lands in a log whole. */
  @Override
  public String toString() {
    return "KeyHash[" + Long.toHexString(h0 >>> 32) + "…]";
  }

  private static MessageDigest digest() {
    if (CLONEABLE) {
      try {
        return (MessageDigest) PROTOTYPE.clone();
      } catch (CloneNotSupportedException impossible) {
        // fall through to a fresh instance
      }
    }
    return newDigest();
  }

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform provides SHA-256", e);
    }
  }

  private static boolean isCloneable() {
    try {
      PROTOTYPE.clone();
      return true;
    } catch (CloneNotSupportedException e) {
      return false;
    }
  }

  private static long longAt(byte[] bytes, int offset) {
    return (long) BIG_ENDIAN_LONGS.get(bytes, offset); // one 8-byte load instead of 8 shifts
  }

  private static void putLong(byte[] bytes, int offset, long value) {
    for (int i = 7; i >= 0; i--) {
      bytes[offset + i] = (byte) value;
      value >>>= 8;
    }
  }
}
