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
    if (connection.unwrap(org.postgresql.PGConnection.class).getPreferQueryMode()
        == org.postgresql.jdbc.PreferQueryMode.SIMPLE) {
      // In simple mode the driver sends a "describe" as a query, which runs it.
      throw new IllegalArgumentException("the scratch server URL sets preferQueryMode=simple:"
          + " db lint parses statements without running them, which needs the extended protocol");
    }
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

    /** The server printed a tree this reader could not read (see {@link ParseTree}). */
    record Unreadable(String message) implements Parsed {}
  }

  /** Parses {@code sql} without running it; in a transaction, a refusal does not abort it. */
  Parsed parse(String sql) throws SQLException {
    boolean inTransaction = !connection.getAutoCommit();
    if (inTransaction) {
      execute("SAVEPOINT keyward_lint_parse");
    }
    // JDBC would take jsonb's ? operators for placeholders; ?? is a ? the driver passes on.
    try (PreparedStatement statement = connection.prepareStatement(
        SqlScript.escapeQuestionMarks(sql))) {
      try {
        statement.getParameterMetaData(); // Parse and Describe; no Execute
      } catch (SQLException e) {
        if (inTransaction) {
          execute("ROLLBACK TO SAVEPOINT keyward_lint_parse");
          execute("RELEASE SAVEPOINT keyward_lint_parse");
        }
        String message = ErrorText.firstLine(e.getMessage());
        return SYNTAX_ERROR.equals(e.getSQLState()) ? new Parsed.SyntaxError(message)
            : new Parsed.Unresolved(e.getSQLState() == null ? "" : e.getSQLState(), message);
      }
      String printed = null;
      for (SQLWarning warning = statement.getWarnings(); warning != null;
          warning = warning.getNextWarning()) {
        if (warning instanceof PSQLWarning notice && notice.getServerErrorMessage() != null
            && "parse tree:".equals(notice.getServerErrorMessage().getMessage())) {
          printed = notice.getServerErrorMessage().getDetail();
        }
      }
      connection.clearWarnings();
      if (inTransaction) {
        execute("RELEASE SAVEPOINT keyward_lint_parse");
      }
      Node tree = null;
      if (printed != null) {
        try {
          tree = ParseTree.readNode(printed);
        } catch (IllegalArgumentException e) {
          return new Parsed.Unreadable(e.getMessage());
        }
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
    // Atoms as printed: numbers on PostgreSQL 17, words for some enums on 16 (CONSTR_CHECK).
    private final Map<String, String> alterTable = new HashMap<>();
    private final Map<String, String> constraint = new HashMap<>();
    private final Map<String, String> object = new HashMap<>();
    private final Map<String, String> transaction = new HashMap<>();

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
      constraint.put("not null", atom(column.nodes("constraints").get(0), "contype"));
      constraint.put("default", atom(column.nodes("constraints").get(1), "contype"));
      constraint.put("identity", atom(parser.utility("ALTER TABLE t ADD COLUMN c int GENERATED"
          + " ALWAYS AS IDENTITY").nodes("cmds").get(0).node("def").nodes("constraints").get(0),
          "contype"));
      constraint.put("generated", atom(parser.utility("ALTER TABLE t ADD COLUMN c int GENERATED"
          + " ALWAYS AS (1) STORED").nodes("cmds").get(0).node("def").nodes("constraints").get(0),
          "contype"));
      object.put("column", atom(parser.utility("ALTER TABLE t RENAME COLUMN a TO b"),
          "renameType"));
      object.put("table", atom(parser.utility("ALTER TABLE t RENAME TO u"), "renameType"));
      object.put("index", atom(parser.utility("DROP INDEX i"), "removeType"));
      transaction.put("begin", atom(parser.utility("BEGIN"), "kind"));
      transaction.put("start", atom(parser.utility("START TRANSACTION"), "kind"));
      transaction.put("commit", atom(parser.utility("COMMIT"), "kind"));
      transaction.put("rollback", atom(parser.utility("ROLLBACK"), "kind"));
      if (new java.util.HashSet<>(constraint.values()).size() != constraint.size()) {
        throw new IllegalStateException("the scratch PostgreSQL prints constraint types this"
            + " linter cannot tell apart: " + constraint);
      }
    }

    private static String atom(Node node, String field) {
      String atom = node.text(field);
      if (atom == null) {
        throw new IllegalStateException("the scratch PostgreSQL printed no " + field + " in "
            + node.type());
      }
      return atom;
    }

    private void learnAlter(StatementParser parser, String name, String sql) throws SQLException {
      alterTable.put(name, atom(parser.utility(sql).nodes("cmds").get(0), "subtype"));
    }

    private void learnConstraint(StatementParser parser, String name, String sql)
        throws SQLException {
      constraint.put(name, atom(parser.utility(sql).nodes("cmds").get(0).node("def"), "contype"));
    }

    /** Whether an {@code ALTERTABLECMD} is the named command ({@code "add column"}...). */
    boolean isAlter(Node command, String name) {
      return alterTable.get(name).equals(command.text("subtype"));
    }

    /** Whether a {@code CONSTRAINT} node is of the named type ({@code "check"}...). */
    boolean isConstraint(Node constraintNode, String name) {
      return constraint.get(name).equals(constraintNode.text("contype"));
    }

    /** Whether an {@code ObjectType} atom ({@code renameType}, {@code removeType}) is the named one. */
    boolean isObject(@Nullable String objectType, String name) {
      return object.get(name).equals(objectType);
    }

    /** Whether a {@code TRANSACTIONSTMT} is the named kind ({@code "begin"}...). */
    boolean isTransaction(Node statement, String name) {
      return transaction.get(name).equals(statement.text("kind"));
    }
  }
}
