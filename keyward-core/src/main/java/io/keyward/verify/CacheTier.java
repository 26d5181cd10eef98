package io.keyward.verify;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import java.util.Optional;

/**
 * A shared cache between the in-process cache and the store (the Redis tier).
 *
 * <p>Contract, from incident I-4: a tier never decides. Anything it cannot read with certainty
 * (corrupt, truncated, another version, another key's record, an error, a timeout) is a miss,
 * which the verifier answers from the store. Implementations must not throw and must bound the
 * time they take; the verifier also guards every call and re-checks that an entry belongs to the
 * hash it asked for.
 */
public interface CacheTier {

  /** A cached record and when it was read from the store (epoch milliseconds). */
  record Entry(KeyRecord record, long loadedAtMillis) {}

  /** The cached entry for {@code hash}, or empty on a miss or any failure. */
  Optional<Entry> read(KeyHash hash);

  /** Caches a record read from the store at {@code loadedAtMillis}. May return before it is done. */
  void write(KeyRecord record, long loadedAtMillis);

  /** Drops any entry for {@code hash}, and tells other nodes if the tier is shared. */
  void invalidate(KeyHash hash);

  /** Registers who hears about changes other nodes make; a tier without a channel ignores it. */
  default void listen(RemoteInvalidations invalidations) {}

  /** No second tier: every L1 miss goes to the store. */
  CacheTier NONE =
      new CacheTier() {
        @Override
        public Optional<Entry> read(KeyHash hash) {
          return Optional.empty();
        }

        @Override
        public void write(KeyRecord record, long loadedAtMillis) {}

        @Override
        public void invalidate(KeyHash hash) {}
      };
}
