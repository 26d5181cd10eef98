package io.keyward.verify;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import java.util.Optional;

/**
 * A shared cache between the in-process cache and the store (Redis, in a later module).
 *
 * <p>Contract, from incident I-4: a tier never decides. Anything it cannot read with certainty
 * (corrupt, truncated, another version, another key's record, an error, a timeout) is a miss,
 * which the verifier answers from the store. Implementations must not throw and must bound the
 * time they take; the verifier also guards every call.
 */
public interface CacheTier {

  /** The cached record for {@code hash}, or empty on a miss or any failure. */
  Optional<KeyRecord> read(KeyHash hash);

  /** Caches a record loaded from the store. May return before the write is done. */
  void write(KeyRecord record);

  /** Drops any entry for {@code hash}. */
  void invalidate(KeyHash hash);

  /** No second tier: every L1 miss goes to the store. */
  CacheTier NONE =
      new CacheTier() {
        @Override
        public Optional<KeyRecord> read(KeyHash hash) {
          return Optional.empty();
        }

        @Override
        public void write(KeyRecord record) {}

        @Override
        public void invalidate(KeyHash hash) {}
      };
}
