package io.keyward.store;

import io.keyward.key.KeyHash;
import java.util.function.Consumer;

/** Reads the hash of every stored key, for a filter that must know them all. */
public interface KeyHashScan {
  /**
   * An estimate of how many keys are stored, to size what the scan fills.
   *
   * @throws StoreException when the store cannot answer
   */
  long estimatedCount();

  /**
   * Hands every stored key's hash to {@code sink}, streamed (not held in memory at once). Keys
   * stored while the scan runs may or may not be included.
   *
   * @return how many hashes were handed over
   * @throws StoreException when the store fails part-way (what was handed over is incomplete)
   */
  long forEachHash(Consumer<KeyHash> sink);
}
