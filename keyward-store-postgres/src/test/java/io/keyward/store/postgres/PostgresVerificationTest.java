package io.keyward.store.postgres;

import io.keyward.store.KeyStore;
import io.keyward.testing.VerificationContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The verification decision matrix on the machine's real PostgreSQL. */
class PostgresVerificationTest extends VerificationContract {
  private static TestDatabase database;

  @BeforeAll
  static void createDatabase() {
    database = TestDatabase.createMigrated();
  }

  @AfterAll
  static void dropDatabase() {
    database.close();
  }

  @Override
  protected KeyStore newEmptyStore() {
    database.execute("TRUNCATE api_keys");
    return new PostgresKeyStore(database.pool());
  }
}
