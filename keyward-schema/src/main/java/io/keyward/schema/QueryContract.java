package io.keyward.schema;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.jspecify.annotations.Nullable;

/**
 * A release's query contract: every SQL statement it issues. A schema change must keep each one
 * working while that release runs (incident I-3).
 *
 * <p>The file format, for Keyward's own releases and for any project: statements separated by
 * semicolons, parameters written {@code $1..$n} (or JDBC's {@code ?}). Before a statement, a
 * comment {@code -- args: <expr>, <expr>, ...} may give example arguments as SQL expressions
 * (evaluated by PostgreSQL: {@code 'live'}, {@code sha256('x')}, {@code now()}), which
 * {@code db compat} binds when it executes the statement; without it, arguments are generated
 * from the parameters' types. A header line {@code -- schema: N} records the schema version the
 * release shipped with, the default baseline for checking the migrations after it. A comment
 * {@code -- gated} marks a statement issued behind a schema gate: its code path switches itself
 * off when the objects are missing, so failing on an older schema is noted, not a break.
 *
 * @param statements in file order
 * @param schemaVersion the {@code -- schema:} header, if any
 */
public record QueryContract(List<ContractStatement> statements, OptionalInt schemaVersion) {

  /**
   * One statement of a contract.
   *
   * @param sql the statement as written ({@code $n} or {@code ?} parameters)
   * @param line the line it starts on in its file (0 for a contract built in code)
   * @param args example arguments as SQL expressions, or null to generate them from types
   * @param gated whether the code path issuing it runs behind a schema gate (falls back when its
   *     objects are missing), so failing on an older schema is not a break
   */
  public record ContractStatement(String sql, int line, @Nullable List<String> args,
      boolean gated) {
    /** The first line of the statement, shortened, to name it in findings. */
    public String summary() {
      String one = sql.strip().replaceAll("\\s+", " ");
      return one.length() > 100 ? one.substring(0, 100) + "…" : one;
    }
  }

  private static final String ARGS = "-- args:";
  private static final String GATED = "-- gated";
  private static final String SCHEMA = "-- schema:";

  /** Reads a contract file. */
  public static QueryContract read(Path file) {
    try {
      return parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the contract " + file + ": " + e.getMessage(), e);
    }
  }

  /** Parses contract text (see the class comment). */
  public static QueryContract parse(String text) {
    OptionalInt schema = OptionalInt.empty();
    String[] lines = text.split("\n", -1);
    for (String line : lines) {
      String stripped = line.strip();
      if (stripped.startsWith(SCHEMA)) {
        try {
          schema = OptionalInt.of(Integer.parseInt(stripped.substring(SCHEMA.length()).strip()));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("contract header '" + stripped
              + "' must give a whole schema version, e.g. '-- schema: 2'");
        }
      }
    }
    List<ContractStatement> statements = new ArrayList<>();
    for (SqlScript.Statement statement : SqlScript.split(text)) {
      List<String> args = null;
      boolean gated = false;
      // Annotations are the comment lines right before the statement.
      for (int i = statement.line() - 2; i >= 0 && lines[i].strip().startsWith("--"); i--) {
        String stripped = lines[i].strip();
        if (stripped.startsWith(ARGS) && args == null) {
          args = splitArguments(stripped.substring(ARGS.length()));
        } else if (stripped.equals(GATED)) {
          gated = true;
        }
      }
      statements.add(new ContractStatement(withoutLeadingComments(statement.sql()),
          statement.line(), args, gated));
    }
    return new QueryContract(List.copyOf(statements), schema);
  }

  /**
   * A contract made in code (a release's own statements), without example arguments.
   *
   * @param gated those of {@code statements} issued behind a schema gate
   */
  public static QueryContract of(List<String> statements, java.util.Collection<String> gated,
      OptionalInt schemaVersion) {
    List<ContractStatement> list = new ArrayList<>();
    for (String sql : statements) {
      list.add(new ContractStatement(sql, 0, null, gated.contains(sql)));
    }
    return new QueryContract(List.copyOf(list), schemaVersion);
  }

  /** The contract in the file format, {@code $n} parameters, ready to be kept with a release. */
  public String write(String title) {
    StringBuilder out = new StringBuilder();
    out.append("-- ").append(title).append('\n');
    schemaVersion.ifPresent(v -> out.append(SCHEMA).append(' ').append(v).append('\n'));
    for (ContractStatement statement : statements) {
      out.append('\n');
      if (statement.gated()) {
        out.append(GATED).append('\n');
      }
      if (statement.args() != null) {
        out.append(ARGS).append(' ').append(String.join(", ", statement.args())).append('\n');
      }
      out.append(toDollarParameters(statement.sql())).append(";\n");
    }
    return out.toString();
  }

  private static String toDollarParameters(String sql) {
    SqlScript.Parameterized p = SqlScript.parameterize(sql);
    StringBuilder out = new StringBuilder();
    int k = 0;
    String jdbc = p.jdbcSql();
    int i = 0;
    while (i < jdbc.length()) {
      int end = SqlScript.skipQuoted(jdbc, i);
      if (end == i + 1 && jdbc.charAt(i) == '?' && k < p.order().size()) {
        out.append('$').append(p.order().get(k++));
      } else {
        out.append(jdbc, i, end);
      }
      i = end;
    }
    return out.toString();
  }

  private static String withoutLeadingComments(String sql) {
    String rest = sql;
    while (rest.startsWith("--")) {
      int newline = rest.indexOf('\n');
      rest = newline < 0 ? "" : rest.substring(newline + 1).strip();
    }
    return rest;
  }

  /** Splits {@code a, f(b, c), 'x,y'} at top-level commas, with the SQL lexer's quoting rules. */
  static List<String> splitArguments(String text) {
    List<String> args = new ArrayList<>();
    int depth = 0;
    int start = 0;
    int i = 0;
    while (i < text.length()) {
      char c = text.charAt(i);
      if (c == '(' || c == '[') {
        depth++;
      } else if (c == ')' || c == ']') {
        depth--;
      } else if (c == ',' && depth == 0) {
        args.add(text.substring(start, i).strip());
        start = i + 1;
      }
      int end = SqlScript.skipQuoted(text, i);
      i = end;
    }
    String last = text.substring(start).strip();
    if (!last.isEmpty()) {
      args.add(last);
    }
    return List.copyOf(args);
  }
}
