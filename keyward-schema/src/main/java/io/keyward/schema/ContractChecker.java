package io.keyward.schema;

import io.keyward.schema.QueryContract.ContractStatement;
import io.keyward.store.postgres.ErrorText;
import java.sql.Connection;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jspecify.annotations.Nullable;
import org.postgresql.util.PGobject;

/**
 * Runs a query contract against a database: each statement is prepared (PostgreSQL parses and
 * analyses it against the schema: a missing table or column, an ambiguous reference, a type that
 * no longer fits) and then executed with example or generated arguments inside a transaction that
 * is rolled back (an INSERT that misses a new NOT NULL column, a value a new CHECK refuses). What
 * was written is never kept.
 */
final class ContractChecker {
  private ContractChecker() {}

  /** How far a statement got. */
  enum Stage {
    /** Prepared and executed. */
    OK,
    /** Prepared; executing it with these arguments failed. */
    EXECUTE_FAILED,
    /** PostgreSQL refused to prepare it against this schema. */
    PREPARE_FAILED
  }

  /** The result of one statement. */
  record Result(Stage stage, @Nullable String sqlState, @Nullable String message) {
    static final Result OK = new Result(Stage.OK, null, null);

    String describe() {
      return (stage == Stage.PREPARE_FAILED ? "cannot be prepared: " : "fails when run: ")
          + message + (sqlState == null ? "" : " (SQLState " + sqlState + ")");
    }
  }

  /** Checks every statement, in order; never throws for a statement's failure. */
  static List<Result> check(Connection connection, QueryContract contract) throws SQLException {
    List<Result> results = new ArrayList<>();
    boolean autoCommit = connection.getAutoCommit();
    connection.setAutoCommit(false);
    try {
      for (ContractStatement statement : contract.statements()) {
        results.add(checkOne(connection, statement));
        connection.rollback();
      }
    } finally {
      connection.rollback();
      connection.setAutoCommit(autoCommit);
    }
    return results;
  }

  /**
   * As {@link #check}, inside the caller's open transaction: each statement in a savepoint that is
   * rolled back, so nothing it does (rows, locks, settings) outlives it and the transaction goes on.
   */
  static List<Result> checkInSavepoints(Connection connection, QueryContract contract)
      throws SQLException {
    List<Result> results = new ArrayList<>();
    for (ContractStatement statement : contract.statements()) {
      java.sql.Savepoint savepoint = connection.setSavepoint();
      try {
        results.add(prepareOnly(connection, statement));
      } finally {
        connection.rollback(savepoint);
      }
    }
    return results;
  }

  /**
   * Only prepares {@code statement} (PostgreSQL parses and analyses it against the schema: a
   * missing table or column, an ambiguous name, a type that no longer fits), executing nothing.
   * What the contract gate does inside a production migration: executing there would take row
   * locks and run arbitrary statements while the migration's locks are held.
   */
  static Result prepareOnly(Connection connection, ContractStatement statement) {
    if (!isQuery(statement.sql())) {
      return new Result(Stage.EXECUTE_FAILED, null, "not a SELECT, INSERT, UPDATE, DELETE or WITH"
          + " statement: not run inside a migration");
    }
    SqlScript.Parameterized parameterized = SqlScript.parameterize(statement.sql());
    try (PreparedStatement prepared = connection.prepareStatement(parameterized.jdbcSql())) {
      prepared.getParameterMetaData();
      return Result.OK;
    } catch (SQLException e) {
      return new Result(Stage.PREPARE_FAILED, e.getSQLState(), ErrorText.firstLine(e.getMessage()));
    }
  }

  /** Whether a contract statement is a plain query or data change (its first word, lexed). */
  static boolean isQuery(String sql) {
    List<SqlScript.Statement> statements = SqlScript.split(sql);
    if (statements.size() != 1) {
      return false;
    }
    String text = statements.get(0).sql();
    int end = 0;
    while (end < text.length() && Character.isLetter(text.charAt(end))) {
      end++;
    }
    String first = text.substring(0, end).toUpperCase(java.util.Locale.ROOT);
    return List.of("SELECT", "INSERT", "UPDATE", "DELETE", "WITH").contains(first);
  }

  private static Result checkOne(Connection connection, ContractStatement statement)
      throws SQLException {
    try (Statement limits = connection.createStatement()) {
      limits.execute("SET LOCAL statement_timeout = '10s'");
      limits.execute("SET LOCAL lock_timeout = '5s'");
    }
    SqlScript.Parameterized parameterized = SqlScript.parameterize(statement.sql());
    PreparedStatement prepared;
    ParameterMetaData parameters;
    try {
      prepared = connection.prepareStatement(parameterized.jdbcSql());
      parameters = prepared.getParameterMetaData(); // makes the server parse and analyse it
    } catch (SQLException e) {
      return new Result(Stage.PREPARE_FAILED, e.getSQLState(), ErrorText.firstLine(e.getMessage()));
    }
    try (prepared) {
      Map<Integer, Object> values = values(connection, statement, parameterized, parameters);
      for (int i = 0; i < parameterized.order().size(); i++) {
        Object value = values.get(parameterized.order().get(i));
        if (value == null) {
          prepared.setNull(i + 1, Types.OTHER);
        } else {
          prepared.setObject(i + 1, value);
        }
      }
      prepared.execute();
      return Result.OK;
    } catch (SQLException e) {
      return new Result(Stage.EXECUTE_FAILED, e.getSQLState(), ErrorText.firstLine(e.getMessage()));
    }
  }

  /** Each parameter number's value: the contract's example, or one made for its type. */
  private static Map<Integer, Object> values(Connection connection, ContractStatement statement,
      SqlScript.Parameterized parameterized, ParameterMetaData parameters) throws SQLException {
    Map<Integer, Object> values = new HashMap<>();
    if (statement.args() != null && !statement.args().isEmpty()) {
      String select = "SELECT " + String.join(", ", statement.args());
      if (SqlScript.split(select).size() != 1) {
        throw new SQLException("example arguments must be expressions, not statements: "
            + String.join(", ", statement.args()), "22023");
      }
      try (Statement evaluate = connection.createStatement();
          ResultSet rs = evaluate.executeQuery(select)) {
        rs.next();
        for (int n = 1; n <= statement.args().size(); n++) {
          values.put(n, rs.getObject(n));
        }
      }
      return values;
    }
    for (int i = 0; i < parameterized.order().size(); i++) {
      int number = parameterized.order().get(i);
      if (!values.containsKey(number)) {
        values.put(number, generated(connection, parameters.getParameterTypeName(i + 1), number));
      }
    }
    return values;
  }

  private static @Nullable Object generated(Connection connection, String type, int number)
      throws SQLException {
    return switch (type == null ? "" : type) {
      case "int2", "int4", "int8", "numeric", "float4", "float8" -> number;
      case "text", "varchar", "bpchar", "name", "citext" -> "x" + number;
      case "bool" -> Boolean.TRUE;
      case "bytea" -> new byte[32];
      case "timestamptz", "timestamp" -> OffsetDateTime.now();
      case "date" -> LocalDate.now();
      case "uuid" -> UUID.randomUUID();
      case "json", "jsonb" -> {
        PGobject json = new PGobject();
        json.setType(type);
        json.setValue("{}");
        yield json;
      }
      case "_text", "_varchar" -> connection.createArrayOf("text", new String[] {"x"});
      case "_int4", "_int8" -> connection.createArrayOf("int8", new Long[] {1L});
      default -> null;
    };
  }
}
