package io.keyward.verify;

/** The code of a verification's answer, as reported by the API and counted in metrics. */
public enum Outcome {
  VALID,
  NOT_FOUND,
  REVOKED,
  EXPIRED,
  DISABLED,
  MALFORMED,
  INSUFFICIENT_SCOPE,
  /** No decision was possible (store failing, nothing usable cached): HTTP 503, never a denial. */
  UNAVAILABLE;

  /** Whether this code is a decided "no". */
  public boolean isDenial() {
    return this != VALID && this != UNAVAILABLE;
  }
}
