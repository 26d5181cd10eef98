package io.keyward.verify;

import io.keyward.store.KeyStore;
import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.VerificationContract;

/** The verification contract over the in-memory store. */
class InMemoryVerificationTest extends VerificationContract {
  @Override
  protected KeyStore newEmptyStore() {
    return new InMemoryKeyStore();
  }
}
