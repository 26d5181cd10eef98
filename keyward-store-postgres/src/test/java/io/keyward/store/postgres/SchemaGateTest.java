package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.store.StoreException;
import io.keyward.testing.Eventually;
import io.keyward.testing.MutableClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Gated code paths against the real PostgreSQL: incident I-1's invisible table. */
class SchemaGateTest {
  private final MutableClock clock = MutableClock.startingAt2030();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private SchemaGate gate(TestDatabase database) {
    return new SchemaGate("tokens", "SELECT id, owner FROM tokens WHERE false", database.pool(),
        clock, Duration.ofSeconds(1), registry);
  }

  private static String read(TestDatabase database) throws java.sql.SQLException {
    try (Connection connection = database.pool().getConnection();
        var rs = connection.createStatement().executeQuery("SELECT count(*) FROM tokens")) {
      rs.next();
      return "new path saw " + rs.getLong(1);
    }
  }

  @Test
  void gateStaysClosedWhileItsTableIsCreatedAndBackfilledInAnOpenTransactionAndOpensAfterCommit()
      throws Exception {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      SchemaGate gate = gate(database);
      try (Connection migration = java.sql.DriverManager.getConnection(database.url().jdbcUrl())) {
        migration.setAutoCommit(false);
        migration.createStatement().execute("CREATE TABLE tokens (id int, owner text)");
        migration.createStatement().execute(
            "INSERT INTO tokens SELECT g, 'o' FROM generate_series(1, 1000) g"); // the backfill

        assertThat(gate.checkNow()).isFalse(); // other connections cannot see the table yet
        assertThat(gate.call(() -> read(database), () -> "old path")).isEqualTo("old path");
        assertThat(gate.closedBecause()).isEqualTo("schema not visible yet");

        migration.commit();
      }
      clock.advance(Duration.ofSeconds(1));
      Eventually.await(gate::isOpen); // rechecked in the background once a second
      assertThat(gate.call(() -> read(database), () -> "old path")).isEqualTo("new path saw 1000");
      assertThat(registry.get("keyward.schema.gate.open").tag("gate", "tokens").gauge().value())
          .isEqualTo(1);
    }
  }

  @Test
  void gatedCallThatFindsItsSchemaGoneAnswersTheFallbackClosesTheGateAndIsCounted()
      throws Exception {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      database.execute("CREATE TABLE tokens (id int, owner text)");
      SchemaGate gate = gate(database);
      assertThat(gate.checkNow()).isTrue();
      database.execute("DROP TABLE tokens"); // a rollback of the release that added it

      assertThat(gate.call(() -> read(database), () -> "old path")).isEqualTo("old path");
      assertThat(gate.isOpen()).isFalse();
      assertThat(registry.get("keyward.schema.gate.fallbacks").tag("gate", "tokens").counter()
          .count()).isEqualTo(1);
    }
  }

  @Test
  void otherDatabaseErrorsAreStoreErrorsNotFallbacks() {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      database.execute("CREATE TABLE tokens (id int, owner text)");
      SchemaGate gate = gate(database);
      gate.checkNow();

      assertThatThrownBy(() -> gate.call(() -> {
        try (Connection connection = database.pool().getConnection()) {
          connection.createStatement().execute("SELECT 1/0");
          return "unreachable";
        }
      }, () -> "old path")).isInstanceOf(StoreException.class).hasMessageContaining("22012");
      assertThat(gate.isOpen()).isTrue();
    }
  }
}
