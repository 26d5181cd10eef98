package io.keyward.cache.redis;

import java.security.GeneralSecurityException;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The key every node of a deployment signs its Redis entries with (HMAC-SHA256), so that an entry
 * proves a node wrote it. Held once per process; {@link #toString()} never shows it.
 */
public final class SigningKey {
  /** Length of a signing key in bytes. */
  public static final int LENGTH_BYTES = 32;
  private static final String ALGORITHM = "HmacSHA256";

  private final Mac prototype;

  private SigningKey(byte[] key) {
    try {
      prototype = Mac.getInstance(ALGORITHM);
      prototype.init(new SecretKeySpec(key, ALGORITHM));
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException("every Java platform provides " + ALGORITHM, e);
    }
  }

  /**
   * A signing key from its bytes.
   *
   * @throws IllegalArgumentException unless there are exactly {@value #LENGTH_BYTES} bytes
   */
  public static SigningKey of(byte[] key) {
    if (key == null || key.length != LENGTH_BYTES) {
      throw new IllegalArgumentException(
          "a cache signing key is " + LENGTH_BYTES + " bytes, got " + (key == null ? "none" : key.length));
    }
    return new SigningKey(key);
  }

  /** HMAC-SHA256 of the first {@code length} bytes of {@code data}. Thread-safe. */
  byte[] mac(byte[] data, int length) {
    Mac mac;
    try {
      mac = (Mac) prototype.clone();
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException(ALGORITHM + " cannot be cloned here", e);
    }
    mac.update(data, 0, length);
    return mac.doFinal();
  }

  @Override
  public String toString() {
    return "SigningKey[hidden]";
  }

  static {
    // Fail at class load, not on the first cache read, if the platform lacks HMAC cloning.
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(new SecretKeySpec(new byte[LENGTH_BYTES], ALGORITHM));
      mac.clone();
    } catch (GeneralSecurityException | CloneNotSupportedException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
