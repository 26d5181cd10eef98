package io.keyward.store;

import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.KeyStoreContract;

/** Keeps the in-memory test store honest: it must behave like the real one. */
class InMemoryKeyStoreContractTest extends KeyStoreContract {
  @Override
  protected KeyStore newEmptyStore() {
    return new InMemoryKeyStore();
  }
}
