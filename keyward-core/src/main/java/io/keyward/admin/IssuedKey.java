package io.keyward.admin;

import io.keyward.key.KeyFormat;
import io.keyward.key.KeyRecord;

/**
 * A newly issued key: its record and, once, its secret text. Handle with care: the secret must
 * reach its owner and nothing else (not a log, not a store).
 */
public record IssuedKey(KeyRecord record, String secret) {
  /** Redacts the secret so that a stray log statement cannot leak it. */
  @Override
  public String toString() {
    return "IssuedKey[" + record.keyId() + ", " + KeyFormat.redact(secret) + "]";
  }
}
