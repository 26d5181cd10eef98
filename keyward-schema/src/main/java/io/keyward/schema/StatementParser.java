package io.keyward.schema;

import io.keyward.schema.ParseTree.Node;
import io.keyward.store.postgres.ErrorText;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.postgresql.util.PSQLWarning;

/**
 * PostgreSQL's own grammar, asked through a connection: a statement is sent as a protocol-level
 * Parse (with Describe) and never executed, and the server prints the tree it built
 * ({@code debug_print_parse}, sent to this client as a LOG notice). Utility statements (DDL,
 * {@code COPY}, {@code DO}, {@code SET}, {@code LOCK}...) come back as the grammar produced them;
 * queries ({@code INSERT}, {@code UPDATE}, {@code SELECT}...) come back analysed, so their names
 * must resolve on the connection's database, which is why the static lint keeps a model of the
 * schema.
 *
 * <p>The numbers of the server's enums (which {@code ALTER TABLE} command, which constraint type)
 * differ between major versions, so they are not written here: they are learned from the server
 * by parsing statements whose meaning is known ({@link Grammar}).
 */
final class StatementParser {
  /** SQLState of a syntax error. */
  private static final String SYNTAX_ERROR = "42601";

  private final Connection connection;
  private final Grammar grammar;

  private StatementParser(Connection connection) throws SQLException {
    this.connection = connection;
    this.grammar = new Grammar(this);
  }

  /**
   * A parser on {@code connection}, which it sets to receive parse trees (for the rest of the
   * session) and learns the server's enum numbers on.
   */
  static StatementParser on(Connection connection) throws SQLException {
    try (Statement sql = connection.createStatement()) {
      sql.execute("SET client_min_messages = log");
      sql.execute("SET debug_print_parse = on");
      sql.execute("SET debug_pretty_print = off");
    }
    return new StatementParser(connection);
  }

  Grammar grammar() {
    return grammar;
  }

  /** What the server made of a statement. */
  sealed interface Parsed {
    /** The tree: a {@code QUERY} node; for a utility statement, see {@link #utility()}. */
    record Tree(Node query) implements Parsed {
      /** The utility statement ({@code ALTERTABLESTMT}...), or null for a query. */
      @Nullable Node utility() {
        return query.node("utilityStmt");
      }

      /** {@code CmdType}: 1 SELECT, 2 UPDATE, 3 INSERT, 4 DELETE, 5 MERGE, 6 utility. */
      int commandType() {
        return query.number("commandType", 0);
      }
    }

    /** The grammar accepted it but a name did not resolve (42P01, 42703, 42883...). */
    record Unresolved(String sqlState, String message) implements Parsed {}

    /** The grammar refused it. */
    record SyntaxError(String message) implements Parsed {}
  }

  /** Parses {@code sql} without running it; in a transaction, a refusal does not abort it. */
  Parsed parse(String sql) throws SQLException {
    boolean inTransaction = !connection.getAutoCommit();
    if (inTransaction) {
      execute("SAVEPOINT keyward_lint_parse");
    }
    try (PreparedStatement statement = connection.prepareStatement(sql)) {
      try {
        statement.getParameterMetaData(); // Parse and Describe; no Execute
      } catch (SQLException e) {
        if (inTransaction) {
          execute("ROLLBACK TO SAVEPOINT keyward_lint_parse");
        }
        String message = ErrorText.firstLine(e.getMessage());
        return SYNTAX_ERROR.equals(e.getSQLState()) ? new Parsed.SyntaxError(message)
            : new Parsed.Unresolved(e.getSQLState() == null ? "" : e.getSQLState(), message);
      }
      Node tree = null;
      for (SQLWarning warning = statement.getWarnings(); warning != null;
          warning = warning.getNextWarning()) {
        if (warning instanceof PSQLWarning notice && notice.getServerErrorMessage() != null
            && "parse tree:".equals(notice.getServerErrorMessage().getMessage())) {
          tree = ParseTree.readNode(notice.getServerErrorMessage().getDetail());
        }
      }
      connection.clearWarnings();
      if (inTransaction) {
        execute("RELEASE SAVEPOINT keyward_lint_parse");
      }
      if (tree == null) {
        throw new IllegalStateException("the scratch PostgreSQL parsed a statement without"
            + " printing its tree (is debug_print_parse refused?)");
      }
      return new Parsed.Tree(tree);
    }
  }

  private void execute(String sql) throws SQLException {
    try (Statement statement = connection.createStatement()) {
      statement.execute(sql);
    }
    connection.clearWarnings();
  }

  /** The utility statement of a statement PostgreSQL parses without any catalog. */
  private Node utility(String sql) throws SQLException {
    if (parse(sql) instanceof Parsed.Tree tree && tree.utility() != null) {
      return tree.utility();
    }
    throw new IllegalStateException("the scratch PostgreSQL did not parse '" + sql + "'");
  }

  /**
   * The server's numbers for the enums the rules read, learned by parsing statements whose
   * meaning is known: {@code AlterTableType}, {@code ConstrType}, {@code ObjectType} and
   * {@code TransactionStmtKind}.
   */
  static final class Grammar {
    private final Map<String, Integer> alterTable = new HashMap<>();
    private final Map<String, Integer> constraint = new HashMap<>();
    private final Map<String, Integer> object = new HashMap<>();
    private final Map<String, Integer> transaction = new HashMap<>();

    private Grammar(StatementParser parser) throws SQLException {
      learnAlter(parser, "add column", "ALTER TABLE t ADD COLUMN c int");
      learnAlter(parser, "drop column", "ALTER TABLE t DROP COLUMN c");
      learnAlter(parser, "alter column type", "ALTER TABLE t ALTER COLUMN c TYPE int");
      learnAlter(parser, "set not null", "ALTER TABLE t ALTER COLUMN c SET NOT NULL");
      learnAlter(parser, "add constraint", "ALTER TABLE t ADD CONSTRAINT k CHECK (c > 0)");
      learnConstraint(parser, "check", "ALTER TABLE t ADD CHECK (c > 0)");
      learnConstraint(parser, "foreign key", "ALTER TABLE t ADD FOREIGN KEY (c) REFERENCES u");
      learnConstraint(parser, "unique", "ALTER TABLE t ADD UNIQUE (c)");
      learnConstraint(parser, "primary key", "ALTER TABLE t ADD PRIMARY KEY (c)");
      learnConstraint(parser, "exclusion", "ALTER TABLE t ADD EXCLUDE (c WITH =)");
      Node column = parser.utility("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 1"
          + " CHECK (c > 0)").nodes("cmds").get(0).node("def");
      constraint.put("not null", column.nodes("constraints").get(0).number("contype", -1));
      constraint.put("default", column.nodes("constraints").get(1).number("contype", -1));
      constraint.put("identity", parser.utility("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS"
          + " AS IDENTITY").nodes("cmds").get(0).node("def").nodes("constraints").get(0)
          .number("contype", -1));
      constraint.put("generated", parser.utility("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS"
          + " AS (1) STORED").nodes("cmds").get(0).node("def").nodes("constraints").get(0)
          .number("contype", -1));
      object.put("column", parser.utility("ALTER TABLE t RENAME COLUMN a TO b")
          .number("renameType", -1));
      object.put("table", parser.utility("ALTER TABLE t RENAME TO u").number("renameType", -1));
      object.put("index", parser.utility("DROP INDEX i").number("removeType", -1));
      transaction.put("begin", parser.utility("BEGIN").number("kind", -1));
      transaction.put("start", parser.utility("START TRANSACTION").number("kind", -1));
      transaction.put("commit", parser.utility("COMMIT").number("kind", -1));
      transaction.put("rollback", parser.utility("ROLLBACK").number("kind", -1));
    }

    private void learnAlter(StatementParser parser, String name, String sql) throws SQLException {
      alterTable.put(name, parser.utility(sql).nodes("cmds").get(0).number("subtype", -1));
    }

    private void learnConstraint(StatementParser parser, String name, String sql)
        throws SQLException {
      constraint.put(name, parser.utility(sql).nodes("cmds").get(0).node("def")
          .number("contype", -1));
    }

    /** Whether an {@code ALTERTABLECMD} is the named command ({@code "add column"}...). */
    boolean isAlter(Node command, String name) {
      return command.number("subtype", -2) == alterTable.get(name);
    }

    /** Whether a {@code CONSTRAINT} node is of the named type ({@code "check"}...). */
    boolean isConstraint(Node constraintNode, String name) {
      return constraintNode.number("contype", -2) == constraint.get(name);
    }

    /** Whether an {@code ObjectType} number is the named one ({@code "table"}...). */
    boolean isObject(int objectType, String name) {
      return objectType == object.get(name);
    }

    /** Whether a {@code TRANSACTIONSTMT} is the named kind ({@code "begin"}...). */
    boolean isTransaction(Node statement, String name) {
      return statement.number("kind", -2) == transaction.get(name);
    }
  }
}
