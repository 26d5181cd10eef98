package io.keyward.store.postgres;

import java.sql.Connection;
import java.sql.SQLException;

/** One transaction on a connection: committed if the work returns, rolled back if it throws. */
final class Transactions {
  private Transactions() {}

  /** Work on a connection inside a transaction. */
  @FunctionalInterface
  interface SqlWork<T> {
    T run(Connection connection) throws SQLException;
  }

  /**
   * Runs {@code work} in a transaction of its own on {@code connection} and restores the
   * connection's auto-commit after, whatever happens. Work that rolled back itself (an early
   * return) is committed as an empty transaction.
   */
  static <T> T run(Connection connection, SqlWork<T> work) throws SQLException {
    boolean autoCommit = connection.getAutoCommit();
    connection.setAutoCommit(false);
    try {
      T result = work.run(connection);
      connection.commit();
      return result;
    } catch (SQLException | RuntimeException e) {
      connection.rollback();
      throw e;
    } finally {
      connection.setAutoCommit(autoCommit);
    }
  }
}
