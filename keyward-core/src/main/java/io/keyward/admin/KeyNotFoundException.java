package io.keyward.admin;

/** No key has the given id. */
public final class KeyNotFoundException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public KeyNotFoundException(String keyId) {
    super("no key with id '" + keyId + "'");
  }
}
