package io.keyward.admin;

/** The change conflicts with the key's state (revoked, already imported, changed meanwhile). */
public final class KeyConflictException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public KeyConflictException(String message) {
    super(message);
  }
}
