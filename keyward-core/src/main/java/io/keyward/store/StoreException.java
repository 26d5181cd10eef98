package io.keyward.store;

/** The store could not answer: unreachable, timed out, or failed. Never means "not found". */
public class StoreException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public StoreException(String message, Throwable cause) {
    super(message, cause);
  }

  public StoreException(String message) {
    super(message);
  }
}
