package io.keyward.store;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import java.util.Optional;

/** Finds a key record by the hash of its key: the only store call on the verify path. */
@FunctionalInterface
public interface KeyLookup {
  /**
   * The record whose key hashes to {@code hash}, or empty if there is none.
   *
   * @throws StoreException when the store cannot answer; the verifier treats that as "cannot
   *     decide", never as "not found"
   */
  Optional<KeyRecord> findByHash(KeyHash hash);
}
