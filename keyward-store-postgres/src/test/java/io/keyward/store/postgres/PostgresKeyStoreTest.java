package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.key.KeyHash;
import io.keyward.store.KeyStore;
import io.keyward.store.StoreException;
import io.keyward.testing.KeyStoreContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The store contract on the machine's real PostgreSQL, plus what only PostgreSQL can do. */
class PostgresKeyStoreTest extends KeyStoreContract {
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

  @Test
  void preflightPassesOnTheMigratedSchemaAndNamesWhatIsMissingOtherwise() {
    assertThat(new PostgresKeyStore(database.pool()).preflight()).isNull();

    try (TestDatabase empty = TestDatabase.createEmpty()) {
      PostgresKeyStore.PreflightProblem problem = new PostgresKeyStore(empty.pool()).preflight();

      assertThat(problem.schema()).isTrue();
      assertThat(problem.detail()).contains("api_keys");
    }
  }

  @Test
  void everyStatementOfTheQueryContractPreparesAgainstTheSchema() throws Exception {
    try (var connection = database.pool().getConnection()) {
      for (String sql : PostgresKeyStore.QUERY_CONTRACT) {
        // Preparing on the server checks every table, column and type the statement names.
        try (var statement = connection.prepareStatement(sql)) {
          assertThat(statement.getParameterMetaData()).as(sql).isNotNull();
        }
      }
    }
  }

  @Test
  void databaseThatRefusesConnectionsIsAStoreErrorNotAnEmptyAnswer() {
    try (TestDatabase outage = TestDatabase.createMigrated()) {
      PostgresKeyStore store = new PostgresKeyStore(outage.pool());
      assertThat(store.findByHash(KeyHash.of("x"))).isEmpty();

      outage.refuseAndKillConnections();

      assertThatThrownBy(() -> store.findByHash(KeyHash.of("x")))
          .isInstanceOf(StoreException.class);
      outage.restore();
      // The pool reconnects in the background, with a back-off after the refused attempts: the
      // store answers again within a bounded time, not necessarily at the first call.
      io.keyward.testing.Eventually.await(() -> {
        try {
          return store.findByHash(KeyHash.of("x")).isEmpty();
        } catch (StoreException stillReconnecting) {
          return false;
        }
      });
    }
  }

  @Test
  void lockedTableTimesOutAsAStoreErrorInsteadOfHanging() throws Exception {
    KeyStore store = newEmptyStore();
    try (var holder = java.sql.DriverManager.getConnection(database.url().jdbcUrl())) {
      holder.setAutoCommit(false);
      holder.createStatement().execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE");

      // The lock is held until we roll back; only the pool's statement timeout can end the wait.
      assertThatThrownBy(() -> store.findByHash(KeyHash.of("x")))
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("57014"); // query_canceled: statement timeout
      holder.rollback();
    }
  }
}
