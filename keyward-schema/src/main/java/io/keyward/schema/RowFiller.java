package io.keyward.schema;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fills the tables of a scratch database with generated rows, so that migrations meet data: a
 * {@code SET NOT NULL} meets NULLs, a type change meets values, an index build has rows to read.
 * Every column gets a value of its type, distinct per row (so unique indexes hold); nullable
 * columns are NULL in every tenth row, and nullable foreign keys are always NULL. A CHECK that
 * lists text constants ({@code IN ('live', 'test')}) is met by cycling through them. A table
 * whose rows are still refused (a pattern CHECK, a required foreign key) is left empty and named
 * in the notes; a seed script can fill it instead.
 */
final class RowFiller {
  private RowFiller() {}

  /** Fills every empty table of the public schema with {@code rows} rows; returns the notes. */
  static List<String> fill(Connection connection, int rows, String historyTable) throws SQLException {
    List<String> notes = new ArrayList<>();
    if (rows <= 0) {
      return notes;
    }
    for (String table : tables(connection, historyTable)) {
      if (hasRows(connection, table)) {
        continue; // filled by a seed
      }
      Map<String, String> columns = columnExpressions(connection, table);
      String problem = insert(connection, table, columns, rows);
      if (problem != null) {
        Map<String, String> withConstants = withCheckConstants(connection, table, columns);
        problem = withConstants.equals(columns) ? problem : insert(connection, table, withConstants, rows);
      }
      if (problem != null) {
        notes.add("table " + table + " was left empty (generated rows were refused: " + problem
            + "); give rows with --seed");
      }
    }
    return notes;
  }

  private static List<String> tables(Connection connection, String historyTable) throws SQLException {
    List<String> tables = new ArrayList<>();
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT c.relname FROM pg_class c"
            + " JOIN pg_namespace n ON n.oid = c.relnamespace"
            + " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.oid")) {
      while (rs.next()) {
        if (!rs.getString(1).equals(historyTable)) {
          tables.add(rs.getString(1));
        }
      }
    }
    return tables;
  }

  private static boolean hasRows(Connection connection, String table) throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT EXISTS (SELECT 1 FROM " + quote(table) + ")")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /** Column name to the SQL expression (over {@code g}, the row number) that fills it. */
  private static Map<String, String> columnExpressions(Connection connection, String table)
      throws SQLException {
    Map<String, String> columns = new LinkedHashMap<>();
    String sql = "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        + " a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',"
        + " EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = a.attrelid"
        + "   AND f.contype = 'f' AND a.attnum = ANY (f.conkey)),"
        + " a.attlen, t.typcategory"
        + " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        + " WHERE a.attrelid = '" + quote(table).replace("'", "''") + "'::regclass"
        + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
    try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(sql)) {
      while (rs.next()) {
        String name = rs.getString(1);
        String type = rs.getString(2);
        boolean notNull = rs.getBoolean(3);
        boolean hasDefault = rs.getBoolean(4);
        boolean foreignKey = rs.getBoolean(5);
        if (rs.getString(2).startsWith("USER-DEFINED")) {
          continue;
        }
        if (foreignKey) {
          if (!notNull) {
            continue; // NULL: a generated value would point nowhere
          }
        }
        if (hasDefault && !type.equals("boolean")) {
          continue; // the default fills it, as it would in production
        }
        String expression = expressionFor(type);
        if (expression == null) {
          if (notNull) {
            expression = "NULL"; // will be refused; reported
          } else {
            continue;
          }
        } else if (!notNull) {
          expression = "CASE WHEN g % 10 = 0 THEN NULL ELSE " + expression + " END";
        }
        columns.put(name, expression);
      }
    }
    return columns;
  }

  private static String expressionFor(String type) {
    String base = type.replaceAll("\\(.*\\)", "").strip();
    String length = type.contains("(") ? type.substring(type.indexOf('(') + 1, type.indexOf(')')) : null;
    return switch (base) {
      case "smallint" -> "(g % 32000)::smallint";
      case "integer", "bigint", "numeric", "real", "double precision" -> "g";
      case "text", "citext" -> "'v' || g";
      case "character varying", "character" -> length == null
          ? "'v' || g" : "right('v' || g, " + length.split(",")[0] + ")";
      case "boolean" -> "(g % 2 = 0)";
      case "bytea" -> "sha256(g::text::bytea)";
      case "timestamp with time zone", "timestamp without time zone" -> "now() - g * interval '1 second'";
      case "date" -> "current_date - (g % 3650)";
      case "uuid" -> "md5(g::text)::uuid";
      case "jsonb", "json" -> "'{}'";
      case "text[]", "character varying[]" -> "ARRAY['v' || g]";
      case "integer[]", "bigint[]" -> "ARRAY[g]";
      default -> null;
    };
  }

  /** For each text column under a CHECK that lists string constants, cycles through them. */
  private static Map<String, String> withCheckConstants(Connection connection, String table,
      Map<String, String> columns) throws SQLException {
    Map<String, String> adjusted = new LinkedHashMap<>(columns);
    String sql = "SELECT a.attname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
        + " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
        + " WHERE c.conrelid = '" + quote(table).replace("'", "''") + "'::regclass"
        + " AND c.contype = 'c' AND array_length(c.conkey, 1) = 1";
    try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(sql)) {
      while (rs.next()) {
        String column = rs.getString(1);
        List<String> constants = stringConstants(rs.getString(2));
        if (adjusted.containsKey(column) && !constants.isEmpty()) {
          adjusted.put(column, "(ARRAY[" + String.join(", ", constants) + "])[1 + g % "
              + constants.size() + "]");
        }
      }
    }
    return adjusted;
  }

  /** The string literals of a constraint definition, read with the SQL lexer. */
  static List<String> stringConstants(String definition) {
    List<String> constants = new ArrayList<>();
    int i = 0;
    while (i < definition.length()) {
      int end = SqlScript.skipQuoted(definition, i);
      if (definition.charAt(i) == '\'' && end > i + 1) {
        constants.add(definition.substring(i, end));
      }
      i = end;
    }
    return constants;
  }

  private static String insert(Connection connection, String table, Map<String, String> columns,
      int rows) throws SQLException {
    if (columns.isEmpty()) {
      return "no column could be generated";
    }
    List<String> names = new ArrayList<>();
    for (String name : columns.keySet()) {
      names.add(quote(name));
    }
    String sql = "INSERT INTO " + quote(table) + " (" + String.join(", ", names) + ") SELECT "
        + String.join(", ", columns.values()) + " FROM generate_series(1, " + rows + ") g";
    boolean autoCommit = connection.getAutoCommit();
    connection.setAutoCommit(false);
    try (Statement statement = connection.createStatement()) {
      statement.execute(sql);
      connection.commit();
      return null;
    } catch (SQLException e) {
      connection.rollback();
      String message = e.getMessage() == null ? e.getSQLState() : e.getMessage();
      int newline = message.indexOf('\n');
      return newline < 0 ? message : message.substring(0, newline);
    } finally {
      connection.setAutoCommit(autoCommit);
    }
  }

  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }
}
