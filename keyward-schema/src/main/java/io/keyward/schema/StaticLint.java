package io.keyward.schema;

import io.keyward.schema.Finding.Severity;
import io.keyward.schema.ParseTree.Node;
import io.keyward.schema.StatementParser.Grammar;
import io.keyward.schema.StatementParser.Parsed;
import io.keyward.store.postgres.ErrorText;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The static half of {@code db lint}: every statement of every file is judged from its text, as
 * PostgreSQL's own grammar reads it ({@link StatementParser}: parsed, never executed), whether or
 * not it would ever run. Names are resolved against a <em>model</em> of the schema: a database
 * holding the baseline with no rows, to which each file's schema statements are applied as Flyway
 * would apply them (one transaction per file unless a statement cannot run in one). Data
 * statements ({@code INSERT}, {@code UPDATE}, {@code DELETE}, {@code MERGE}, {@code COPY},
 * {@code DO}, {@code CALL}, queries calling functions of the project) are never executed, in the
 * model or anywhere. On empty tables the model also shows, from PostgreSQL itself, which locks a
 * schema statement takes on tables that existed before the file ({@code pg_locks}) and whether it
 * rewrites one (a new relfilenode).
 *
 * <p>What it adds to the dynamic half: statements that never ran there (after a failure, in a
 * later file, or data changes that touched no generated row), the intent written in the text
 * ({@code CONCURRENTLY}, {@code NOT VALID}, a {@code DO} block in a DDL transaction), and the line
 * of each catalog finding. What it cannot see: the inside of a {@code DO} block or a function
 * body, and objects they create (later statements naming them are reported as not analysed).
 */
final class StaticLint {
  /** Locks that block writers of a table (and, the last, readers too). */
  private static final Set<String> BLOCKS_WRITES = Set.of("ShareLock", "ShareRowExclusiveLock",
      "ExclusiveLock", "AccessExclusiveLock");
  /** The first object id of user objects: functions below it are PostgreSQL's own. */
  private static final long FIRST_NORMAL_OBJECT_ID = 16384;
  /** Utility statements that change no schema (they are not DDL for the rules). */
  private static final Set<String> CONTROL = Set.of("VARIABLESETSTMT", "VARIABLESHOWSTMT",
      "TRANSACTIONSTMT", "DISCARDSTMT", "EXPLAINSTMT", "NOTIFYSTMT", "LISTENSTMT",
      "UNLISTENSTMT", "CHECKPOINTSTMT", "LOADSTMT", "PREPARESTMT", "EXECUTESTMT",
      "DEALLOCATESTMT", "LOCKSTMT", "VACUUMSTMT", "CONSTRAINTSSETSTMT");
  /** Utility statements that change data or run code. */
  private static final Set<String> DATA = Set.of("DOSTMT", "CALLSTMT", "COPYSTMT",
      "REFRESHMATVIEWSTMT", "TRUNCATESTMT");
  /**
   * The only statements the model runs: schema statements that run no code of the project on
   * tables without rows (an allowlist: anything else, a {@code CREATE TABLE AS} included, is
   * never run). Event triggers, roles, databases, tablespaces and server settings are left out:
   * they would run code or reach beyond the model's database.
   */
  private static final Set<String> MODEL_RUNS = Set.of("CREATESTMT", "ALTERTABLESTMT",
      "INDEXSTMT", "RENAMESTMT", "DROPSTMT", "VIEWSTMT", "CREATESEQSTMT", "ALTERSEQSTMT",
      "CREATEENUMSTMT", "ALTERENUMSTMT", "COMPOSITETYPESTMT", "CREATERANGESTMT",
      "CREATEDOMAINSTMT", "ALTERDOMAINSTMT", "DEFINESTMT", "CREATEFUNCTIONSTMT",
      "ALTERFUNCTIONSTMT", "CREATESCHEMASTMT", "CREATEEXTENSIONSTMT", "ALTEREXTENSIONSTMT",
      "CREATETRIGSTMT", "RULESTMT", "CREATEPOLICYSTMT", "ALTERPOLICYSTMT",
      "ALTEROBJECTSCHEMASTMT", "CREATESTATSSTMT", "ALTERSTATSSTMT", "CREATECASTSTMT",
      "CLUSTERSTMT", "VACUUMSTMT", "REINDEXSTMT", "LOCKSTMT", "COMMENTSTMT");
  /** Statements the model leaves out without losing track of the schema's names. */
  private static final Set<String> MODEL_IGNORES = Set.of("TRANSACTIONSTMT", "GRANTSTMT",
      "GRANTROLESTMT", "ALTEROWNERSTMT", "ALTERDEFAULTPRIVILEGESSTMT", "SECLABELSTMT",
      "NOTIFYSTMT", "LISTENSTMT", "UNLISTENSTMT", "EXPLAINSTMT", "VARIABLESHOWSTMT",
      "CHECKPOINTSTMT", "LOADSTMT", "CREATEROLESTMT", "ALTERROLESTMT", "ALTERROLESETSTMT",
      "DROPROLESTMT", "ALTERSYSTEMSTMT", "CREATEEVENTTRIGSTMT", "ALTEREVENTTRIGSTMT",
      "CREATETABLESPACESTMT", "DROPTABLESPACESTMT", "CREATEDBSTMT", "DROPDBSTMT",
      "ALTERDATABASESTMT", "ALTERDATABASESETSTMT", "COPYSTMT", "REFRESHMATVIEWSTMT",
      "TRUNCATESTMT", "CONSTRAINTSSETSTMT", "DEALLOCATESTMT");
  /** The settings the rules depend on: the only ones the model applies. */
  private static final Set<String> MODEL_SETTINGS = Set.of("lock_timeout", "search_path");

  private StaticLint() {}

  /**
   * The static findings of one file, and for each finding's subject ({@code rule subject}, the
   * subject a table or {@code table.column}) the line it is on, for the dynamic half's catalog
   * findings.
   */
  record FileResult(List<Finding> findings, Map<String, Integer> subjectLines) {
    /** The line of {@code rule} about {@code subject}, or {@code otherwise}. */
    int lineOf(String rule, String subject, int otherwise) {
      return subjectLines.getOrDefault(rule + " " + subject, otherwise);
    }
  }

  /**
   * Judges {@code pending} on {@code model}, an empty scratch database: the baseline up to
   * {@code lastBaseline} is applied first.
   */
  static Map<String, FileResult> run(ScratchDatabase model, MigrationSet migrations,
      @Nullable String lastBaseline, List<MigrationSet.MigrationFile> pending,
      Duration runnerLockTimeout) {
    if (lastBaseline != null) {
      migrations.migrateTo(model.url(), lastBaseline);
    }
    Map<String, FileResult> results = new LinkedHashMap<>();
    try (Connection connection = model.connect("-c lock_timeout=" + runnerLockTimeout.toMillis()
        + " -c statement_timeout=30000")) {
      StatementParser parser = StatementParser.on(connection);
      for (MigrationSet.MigrationFile file : pending) {
        results.put(file.script(), new FileModel(connection, parser, file).run());
      }
    } catch (SQLException e) {
      throw new IllegalStateException("the scratch database failed: " + e.getMessage(), e);
    }
    return results;
  }

  /** One file applied to the model, statement by statement. */
  private static final class FileModel {
    private final Connection connection;
    private final StatementParser parser;
    private final Grammar grammar;
    private final MigrationSet.MigrationFile file;
    private final List<Finding> findings = new ArrayList<>();
    private final Map<String, Integer> subjectLines = new HashMap<>();
    /** Tables that existed before the file, by oid. */
    private Map<Long, String> existing = Map.of();
    /** Tables created by this file so far. */
    private final Set<String> created = new HashSet<>();
    /** What the held blocking locks block, while a file-level transaction holds them. */
    private final Set<String> blockingHeld = new LinkedHashSet<>();
    private int blockingLine;
    /** Whether the model holds everything the file did so far (no DO, no failure). */
    private boolean exact = true;
    private boolean explicitTransaction;

    FileModel(Connection connection, StatementParser parser, MigrationSet.MigrationFile file) {
      this.connection = connection;
      this.parser = parser;
      this.grammar = parser.grammar();
      this.file = file;
    }

    FileResult run() throws SQLException {
      existing = tables();
      List<SqlScript.Statement> statements = SqlScript.split(file.sql());
      List<Parsed> first = new ArrayList<>();
      for (SqlScript.Statement statement : statements) {
        first.add(parser.parse(statement.sql()));
      }
      boolean transactional = true;
      boolean canRunInTransaction = false;
      boolean hasSchemaChange = false;
      int notTransactionalLine = 0;
      for (int i = 0; i < statements.size(); i++) {
        Node utility = first.get(i) instanceof Parsed.Tree tree ? tree.utility() : null;
        if (utility != null && refusedInTransaction(utility)) {
          transactional = false;
          notTransactionalLine = statements.get(i).line();
        } else if (utility == null || !CONTROL.contains(utility.type())) {
          canRunInTransaction = true; // SET and friends beside it do not make a file mixed
        }
        if (utility != null && isSchemaChange(utility)) {
          hasSchemaChange = true;
        }
      }
      if (!transactional && canRunInTransaction) {
        add(notTransactionalLine, "mixed-transaction", Severity.WARNING, null,
            "mixes a statement that cannot run in a transaction with others: the whole file runs"
                + " outside a transaction (Flyway with mixed), so a failure leaves it half done",
            "give the statement that cannot run in a transaction a migration of its own");
      }
      connection.setAutoCommit(!transactional);
      try {
        for (int i = 0; i < statements.size(); i++) {
          SqlScript.Statement statement = statements.get(i);
          // A query is parsed again: the file's earlier statements may define or change the
          // names it uses. A utility statement's tree does not depend on the schema.
          Parsed parsed = first.get(i) instanceof Parsed.Tree tree && tree.utility() != null
              ? first.get(i) : parser.parse(statement.sql());
          judge(statement, parsed, transactional, hasSchemaChange);
        }
        if (transactional) {
          connection.commit();
        }
      } finally {
        if (!connection.getAutoCommit()) {
          connection.rollback(); // a no-op after the commit
        }
        connection.setAutoCommit(true);
      }
      return new FileResult(List.copyOf(findings), Map.copyOf(subjectLines));
    }

    private void judge(SqlScript.Statement statement, Parsed parsed, boolean transactional,
        boolean hasSchemaChange) throws SQLException {
      int line = statement.line();
      if (transactional && !blockingHeld.isEmpty()) {
        add(line, "statement-after-blocking-ddl", Severity.ERROR, null,
            "runs while the transaction holds a lock that blocks " + String.join(", ", blockingHeld)
                + " (taken at line " + blockingLine + "); every statement after it makes the"
                + " outage longer",
            "end the migration after the blocking statement; put what follows in its own migration");
      }
      switch (parsed) {
        case Parsed.SyntaxError error -> {
          exact = false;
          add(line, "syntax-error", Severity.ERROR, null,
              "PostgreSQL's grammar refuses it: " + error.message(), "fix the statement");
        }
        case Parsed.Unresolved unresolved -> notAnalysed(line, unresolved.message()
            + " (SQLState " + unresolved.sqlState() + ")");
        case Parsed.Unreadable unreadable -> {
          exact = false;
          add(line, "not-analysed", Severity.WARNING, null, "PostgreSQL parsed it, but its"
              + " printed tree could not be read: " + unreadable.message(),
              "check this statement by hand (and report the tree to Keyward)");
        }
        case Parsed.Tree tree when tree.utility() != null ->
            judgeUtility(statement, tree.utility(), transactional, hasSchemaChange);
        case Parsed.Tree tree -> judgeQuery(line, tree.query(), transactional, hasSchemaChange);
      }
    }

    private void notAnalysed(int line, String why) {
      if (exact) {
        add(line, "statement-fails", Severity.ERROR, null,
            "fails even on the schema without rows: " + why, "fix the statement");
      } else {
        add(line, "not-analysed", Severity.WARNING, null, "could not be analysed, because an"
            + " earlier statement did not run in the model (a DO block, a function, or a failure): "
            + why, "check this statement by hand, or make the earlier statement plain DDL");
      }
      exact = false;
    }

    private void judgeUtility(SqlScript.Statement statement, Node utility, boolean transactional,
        boolean hasSchemaChange) throws SQLException {
      int line = statement.line();
      switch (utility.type()) {
        case "TRANSACTIONSTMT" -> {
          if (grammar.isTransaction(utility, "begin") || grammar.isTransaction(utility, "start")) {
            explicitTransaction = true;
          } else if (grammar.isTransaction(utility, "commit")
              || grammar.isTransaction(utility, "rollback")) {
            explicitTransaction = false;
          }
        }
        case "INDEXSTMT" -> judgeIndex(line, utility, transactional);
        case "ALTERTABLESTMT" -> judgeAlterTable(line, utility);
        case "RENAMESTMT" -> judgeRename(line, utility);
        case "DROPSTMT" -> {
          if (grammar.isObject(utility.text("removeType"), "table")) {
            for (Object object : (List<?>) utility.fields().getOrDefault("objects", List.of())) {
              String table = object instanceof List<?> names && !names.isEmpty()
                  ? String.valueOf(names.get(names.size() - 1)) : null;
              if (table != null && isExisting(table)) {
                add(line, "table-dropped", Severity.ERROR, table, "drops table " + table
                    + ", which the previous release may still use", "drop it in a later release,"
                    + " once no node reads it (expand, then contract)");
              }
            }
          }
          if (utility.flag("concurrent")) {
            concurrentlyInTransaction(line);
          }
        }
        case "CREATESTMT" -> {
          String table = relation(utility.node("relation"));
          boolean alreadyThere = utility.flag("if_not_exists") && table != null
              && isExisting(table);
          if (table != null && !alreadyThere) {
            created.add(table);
            for (Node column : utility.nodes("tableElts")) {
              if (column.type().equals("COLUMNDEF")) {
                typeTaste(line, table, column);
              }
            }
          }
        }
        case "CREATETABLEASSTMT" -> {
          Node into = utility.node("into");
          String table = into == null ? null : relation(into.node("rel"));
          Node query = utility.node("query");
          if (table != null) {
            created.add(table);
          }
          exact = false; // never run in the model: its query could call the project's code
          // The query is analysed already (a QUERY with its range table), or raw (RANGEVARs).
          boolean readsTables = into != null && !into.flag("skipData") && query != null
              && (!query.findAll("RANGEVAR").isEmpty()
              || query.findAll("RANGETBLENTRY").stream()
                  .anyMatch(entry -> entry.number("rtekind", -1) == 0));
          if (table != null && readsTables) {
            dataChange(line, table, "fills " + table + " from other tables as it creates it",
                transactional, true);
          }
        }
        case "COPYSTMT" -> {
          String table = relation(utility.node("relation"));
          if (utility.flag("is_from") && table != null) {
            dataChange(line, table, "copies rows into " + table, transactional, hasSchemaChange);
          }
        }
        case "DOSTMT" -> {
          exact = false;
          dataChange(line, null, "runs a DO block (code PostgreSQL cannot judge before it runs)",
              transactional, hasSchemaChange);
        }
        case "CALLSTMT" -> {
          exact = false;
          dataChange(line, null, "calls a procedure", transactional, hasSchemaChange);
        }
        case "REFRESHMATVIEWSTMT" -> dataChange(line, null, "refreshes a materialized view",
            transactional, hasSchemaChange);
        case "TRUNCATESTMT" -> {
          for (Node table : utility.nodes("relations")) {
            String name = relation(table);
            dataChange(line, name, "truncates " + name, transactional, hasSchemaChange);
            if (name != null && isExisting(name)) {
              // Not run in the model (a truncate trigger is the project's code): the lock is
              // known from the statement, ACCESS EXCLUSIVE.
              blockingLock(line, name, "AccessExclusiveLock", transactional,
                  single("SELECT current_setting('lock_timeout')"));
            }
          }
        }
        case "REINDEXSTMT" -> {
          if (isConcurrent(utility.nodes("params"))) {
            concurrentlyInTransaction(line);
          }
        }
        default -> { }
      }
      if (utility.type().equals("VARIABLESETSTMT")) {
        applySetting(statement, utility);
      } else if (MODEL_RUNS.contains(utility.type())) {
        applyToModel(statement, transactional);
      } else if (!MODEL_IGNORES.contains(utility.type()) && !DATA.contains(utility.type())) {
        exact = false; // not run, and it may define names later statements use
      }
    }

    /**
     * A {@code SET} or {@code RESET}: applied to the model only for the settings the rules
     * depend on; a migration's other settings (its logging, say) never reach the parser's session.
     */
    private void applySetting(SqlScript.Statement statement, Node set) throws SQLException {
      String name = set.text("name");
      List<String> apply = name == null ? List.of("RESET lock_timeout", "RESET search_path")
          : MODEL_SETTINGS.contains(name.toLowerCase(java.util.Locale.ROOT))
              ? List.of(statement.sql()) : List.of();
      for (String sql : apply) {
        try (Statement statementOnModel = connection.createStatement()) {
          if (!connection.getAutoCommit()) {
            statementOnModel.execute("SAVEPOINT keyward_lint_model");
          }
          try {
            statementOnModel.execute(sql);
            if (!connection.getAutoCommit()) {
              statementOnModel.execute("RELEASE SAVEPOINT keyward_lint_model");
            }
          } catch (SQLException e) {
            if (!connection.getAutoCommit()) {
              statementOnModel.execute("ROLLBACK TO SAVEPOINT keyward_lint_model");
              statementOnModel.execute("RELEASE SAVEPOINT keyward_lint_model");
            }
            notAnalysed(statement.line(), ErrorText.firstLine(e.getMessage()));
          }
        } finally {
          connection.clearWarnings();
        }
      }
    }

    private void judgeIndex(int line, Node index, boolean transactional) {
      String table = relation(index.node("relation"));
      if (index.flag("concurrent")) {
        concurrentlyInTransaction(line);
      } else if (table != null && isExisting(table)) {
        add(line, "index-not-concurrent", Severity.ERROR, table, "builds "
            + (index.flag("unique") ? "a unique index" : "an index") + " on existing table "
            + table + " without CONCURRENTLY: writes to it wait until the build ends",
            "CREATE INDEX CONCURRENTLY, alone in a migration Flyway runs outside a transaction");
      }
    }

    private void concurrentlyInTransaction(int line) {
      if (explicitTransaction) {
        add(line, "concurrently-in-transaction", Severity.ERROR, null, "uses CONCURRENTLY inside"
            + " the file's own BEGIN: PostgreSQL refuses it in a transaction block",
            "remove the BEGIN/COMMIT; give the statement a migration of its own");
      }
    }

    private void judgeAlterTable(int line, Node alter) {
      String table = relation(alter.node("relation"));
      if (table == null || !isExisting(table)) {
        return; // a table this file created: nobody else can see it yet
      }
      for (Node command : alter.nodes("cmds")) {
        String column = command.text("name");
        String subject = table + "." + column;
        if (grammar.isAlter(command, "add column") && command.node("def") != null) {
          Node definition = command.node("def");
          subject = table + "." + definition.text("colname");
          typeTaste(line, table, definition);
          boolean notNull = definition.flag("is_not_null");
          boolean filled = false;
          for (Node constraint : definition.nodes("constraints")) {
            notNull |= grammar.isConstraint(constraint, "not null")
                || grammar.isConstraint(constraint, "primary key");
            filled |= grammar.isConstraint(constraint, "default")
                || grammar.isConstraint(constraint, "identity")
                || grammar.isConstraint(constraint, "generated");
            judgeConstraint(line, table, constraint);
          }
          if (notNull && !filled) {
            add(line, "not-null-without-default", Severity.ERROR, subject, "adds NOT NULL column "
                + subject + " without a default: it fails on a table with rows, and the previous"
                + " release's INSERTs, which do not name it, fail after it", "add it nullable (or"
                + " with a default), backfill, then add the NOT NULL in a later release");
          }
        } else if (grammar.isAlter(command, "drop column")) {
          add(line, "column-dropped", Severity.ERROR, subject, "drops column " + subject
              + ", which the previous release may still read or write",
              "stop using it in one release, drop it in a later one");
        } else if (grammar.isAlter(command, "alter column type")) {
          add(line, "column-type-changed", Severity.ERROR, subject, "changes the type of "
              + subject + ": the previous release may read or write the old type, and most type"
              + " changes rewrite the table", "add a column of the new type and move over in steps");
        } else if (grammar.isAlter(command, "set not null")) {
          add(line, "set-not-null", Severity.ERROR, subject, "makes " + subject + " NOT NULL:"
              + " a full scan under ACCESS EXCLUSIVE, and the previous release may still write"
              + " NULL", "add CHECK (" + column + " IS NOT NULL) NOT VALID, VALIDATE it later,"
              + " then SET NOT NULL (no scan on PostgreSQL 12+)");
        } else if (grammar.isAlter(command, "add constraint") && command.node("def") != null) {
          judgeConstraint(line, table, command.node("def"));
        }
      }
    }

    private void judgeConstraint(int line, String table, Node constraint) {
      boolean check = grammar.isConstraint(constraint, "check");
      boolean foreign = grammar.isConstraint(constraint, "foreign key");
      if ((check || foreign) && !constraint.flag("skip_validation")) {
        add(line, "constraint-validated-in-place", Severity.ERROR, table, "adds "
            + (foreign ? "a foreign key" : "a check") + " to existing table " + table
            + " validated at once: a full scan while writes are blocked",
            "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration");
      }
      boolean unique = grammar.isConstraint(constraint, "unique");
      boolean primary = grammar.isConstraint(constraint, "primary key");
      if ((unique || primary) && constraint.text("indexname") == null) {
        add(line, "unique-built-in-place", Severity.ERROR, table, "adds "
            + (unique ? "a unique constraint" : "a primary key") + " to existing table " + table
            + ", building its index under ACCESS EXCLUSIVE",
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX");
      }
    }

    private void judgeRename(int line, Node rename) {
      String table = relation(rename.node("relation"));
      if (table == null || !isExisting(table)) {
        return;
      }
      String type = rename.text("renameType");
      if (grammar.isObject(type, "column")) {
        String subject = table + "." + rename.text("subname");
        add(line, "column-renamed", Severity.ERROR, subject, "renames column " + subject + " to "
            + rename.text("newname") + ": the previous release's queries fail (42703)",
            "add the new column, write both, backfill, switch reads, then drop the old one");
      } else if (grammar.isObject(type, "table")) {
        add(line, "table-renamed", Severity.ERROR, table, "renames table " + table + " to "
            + rename.text("newname") + ": the previous release's queries fail",
            "create the new table (or a view with the old name) and move over in steps");
      }
    }

    private void typeTaste(int line, String table, Node column) {
      Node type = column.node("typeName");
      List<String> names = type == null ? List.of() : type.texts("names");
      String name = names.isEmpty() ? "" : names.get(names.size() - 1);
      String subject = table + "." + column.text("colname");
      if (name.equals("timestamp")) {
        add(line, "prefer-timestamptz", Severity.WARNING, subject, subject
            + " is a timestamp without time zone", "use timestamptz");
      } else if (name.equals("json")) {
        add(line, "prefer-jsonb", Severity.WARNING, subject, subject + " is json", "use jsonb");
      }
    }

    private void judgeQuery(int line, Node query, boolean transactional, boolean hasSchemaChange)
        throws SQLException {
      int command = query.number("commandType", 0);
      Set<String> targets = new LinkedHashSet<>();
      String target = target(query);
      if (target != null && command >= 2 && command <= 5) {
        targets.add(target);
      }
      if (query.flag("hasModifyingCTE")) {
        for (Node cte : query.nodes("cteList")) {
          Node inner = cte.node("ctequery");
          String innerTarget = inner == null ? null : target(inner);
          if (innerTarget != null) {
            targets.add(innerTarget);
          }
        }
      }
      for (String each : targets) {
        String verb = switch (command) {
          case 2 -> "updates rows of ";
          case 3 -> "inserts rows into ";
          case 4 -> "deletes rows of ";
          case 5 -> "merges rows into ";
          default -> "writes rows of ";
        };
        dataChange(line, each, verb + each, transactional, hasSchemaChange);
      }
      if (targets.isEmpty()) {
        String function = projectFunction(query);
        if (function != null) {
          exact = false; // what it did is not in the model
          dataChange(line, null, "calls " + function + "(), which may change data",
              transactional, hasSchemaChange);
        }
      }
    }

    /** A data change: judged against the file's transaction and its schema changes. */
    private void dataChange(int line, @Nullable String table, String what, boolean transactional,
        boolean hasSchemaChange) {
      if (!transactional) {
        return;
      }
      if (table != null && created.contains(table)) {
        add(line, "new-table-backfilled", Severity.ERROR, table, what + ", created in this same"
            + " transaction: the table stays invisible to every other connection until the"
            + " migration commits, so code that reads it fails (42P01) for as long as the backfill"
            + " runs (incident I-1)", "create the table in one migration; backfill it in batches"
            + " outside the DDL transaction (a data migration of its own), behind a schema gate");
      } else if (hasSchemaChange) {
        add(line, "data-in-ddl-transaction", Severity.ERROR, table, what + " in the transaction"
            + " of a schema change: the schema change's locks are held while the data changes",
            "move the data change to a migration of its own, batched, outside the DDL transaction");
      }
    }

    /** Runs a schema statement on the model, and judges the locks and rewrites it caused. */
    private void applyToModel(SqlScript.Statement statement, boolean transactional)
        throws SQLException {
      int line = statement.line();
      String lockTimeout = single("SELECT current_setting('lock_timeout')");
      Map<String, String> locksBefore = locks();
      Map<Long, Long> filesBefore = relfilenodes();
      boolean ownTransaction = !transactional;
      if (ownTransaction) {
        connection.setAutoCommit(false); // so that its locks can be seen before they are released
      }
      Map<String, String> locksAfter;
      try (Statement sql = connection.createStatement()) {
        sql.execute("SAVEPOINT keyward_lint_model");
        try {
          sql.execute(statement.sql());
        } catch (SQLException e) {
          sql.execute("ROLLBACK TO SAVEPOINT keyward_lint_model");
          if (!ownTransaction || !"25001".equals(e.getSQLState())) {
            throw e;
          }
          connection.rollback(); // refused in a transaction: run as Flyway does, on its own
          connection.setAutoCommit(true);
          ownTransaction = false;
          sql.execute(statement.sql());
        }
        locksAfter = locks();
        if (!connection.getAutoCommit()) {
          sql.execute("RELEASE SAVEPOINT keyward_lint_model");
        }
      } catch (SQLException e) {
        if (ownTransaction) {
          connection.rollback();
          connection.setAutoCommit(true);
        }
        notAnalysed(line, ErrorText.firstLine(e.getMessage()) + " (SQLState " + e.getSQLState()
            + ")");
        return;
      } finally {
        connection.clearWarnings();
      }
      Map<Long, Long> filesAfter = relfilenodes();
      if (ownTransaction) {
        connection.commit();
        connection.setAutoCommit(true);
      }
      for (Map.Entry<Long, Long> file : filesBefore.entrySet()) {
        Long now = filesAfter.get(file.getKey());
        if (now != null && !now.equals(file.getValue())) {
          String table = existing.get(file.getKey());
          add(line, "table-rewrite", Severity.ERROR, table, "rewrites table " + table + " (a new"
              + " relfilenode even with no rows) under ACCESS EXCLUSIVE: no reads or writes until"
              + " it is done", "add a new column and backfill it in batches instead of changing"
              + " the type or adding a volatile default; pg_repack instead of VACUUM FULL");
          locksAfter.put(table, "AccessExclusiveLock");
        }
      }
      for (Map.Entry<String, String> lock : locksAfter.entrySet()) {
        if (!lock.getValue().equals(locksBefore.get(lock.getKey()))) {
          blockingLock(line, lock.getKey(), lock.getValue(), transactional, lockTimeout);
        }
      }
    }

    /** A lock taken on an existing table: judged if it blocks reads or writes. */
    private void blockingLock(int line, String table, String mode, boolean transactional,
        String lockTimeout) {
      if (!BLOCKS_WRITES.contains(mode)) {
        return;
      }
      String blocks = mode.equals("AccessExclusiveLock") ? "reads and writes of " + table
          : "writes of " + table;
      if (transactional) {
        blockingHeld.add(blocks);
        blockingLine = blockingLine == 0 ? line : blockingLine;
      }
      if (lockTimeout.equals("0")) {
        add(line, "blocking-lock-without-timeout", Severity.ERROR, table, "takes " + mode
            + " on " + table + " (blocks " + blocks + ") with no lock_timeout: queued behind a"
            + " long transaction, it would queue every query of the table behind it",
            "SET lock_timeout = '2s' before it and retry on failure (keyward migrate does: 5 s,"
                + " retried with backoff)");
      }
    }

    private boolean refusedInTransaction(Node utility) {
      return switch (utility.type()) {
        case "INDEXSTMT", "DROPSTMT" -> utility.flag("concurrent");
        case "REINDEXSTMT" -> isConcurrent(utility.nodes("params"));
        case "VACUUMSTMT" -> utility.flag("is_vacuumcmd");
        case "CREATEDBSTMT", "DROPDBSTMT", "ALTERSYSTEMSTMT", "CREATETABLESPACESTMT",
            "DROPTABLESPACESTMT" -> true;
        case "ALTERTABLESTMT" -> utility.findAll("PARTITIONCMD").stream()
            .anyMatch(command -> command.flag("concurrent"));
        default -> false;
      };
    }

    private static boolean isConcurrent(List<Node> options) {
      return options.stream().anyMatch(option -> "concurrently".equals(option.text("defname")));
    }

    private static boolean isSchemaChange(Node utility) {
      return !CONTROL.contains(utility.type()) && !DATA.contains(utility.type());
    }

    private boolean isExisting(String table) {
      return !created.contains(table) && existing.containsValue(table);
    }

    private static @Nullable String relation(@Nullable Node rangeVar) {
      return rangeVar == null ? null : rangeVar.text("relname");
    }

    /** The table a query writes to (its result relation), by name from the model. */
    private @Nullable String target(Node query) throws SQLException {
      int index = query.number("resultRelation", 0);
      List<Node> rtable = query.nodes("rtable");
      if (index < 1 || index > rtable.size()) {
        return null;
      }
      String relid = rtable.get(index - 1).text("relid");
      return relid == null ? null : single("SELECT relname FROM pg_class WHERE oid = " +
          Long.parseLong(relid));
    }

    /** The first function of the project (not PostgreSQL's own) a query calls, or null. */
    private @Nullable String projectFunction(Node query) throws SQLException {
      for (Node call : query.findAll("FUNCEXPR")) {
        long oid = Long.parseLong(call.text("funcid"));
        if (oid >= FIRST_NORMAL_OBJECT_ID) {
          return single("SELECT proname FROM pg_proc WHERE oid = " + oid);
        }
      }
      return null;
    }

    private void add(int line, String rule, Severity severity, @Nullable String subject,
        String message, String fix) {
      findings.add(new Finding(file.script(), line, rule, severity, message, fix, null));
      if (subject != null) {
        subjectLines.putIfAbsent(rule + " " + subject, line);
      }
    }

    /** The model's tables outside PostgreSQL's own schemas, by oid. */
    private Map<Long, String> tables() throws SQLException {
      Map<Long, String> tables = new HashMap<>();
      try (Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT c.oid, c.relname FROM pg_class c"
              + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm')"
              + " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
              + " AND n.nspname NOT LIKE 'pg_toast%'")) {
        while (rs.next()) {
          tables.put(rs.getLong(1), rs.getString(2));
        }
      }
      return tables;
    }

    private Map<Long, Long> relfilenodes() throws SQLException {
      Map<Long, Long> files = new HashMap<>();
      try (Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT oid, relfilenode FROM pg_class WHERE relkind IN"
              + " ('r', 'p', 'm')")) {
        while (rs.next()) {
          if (existing.containsKey(rs.getLong(1))) {
            files.put(rs.getLong(1), rs.getLong(2));
          }
        }
      }
      return files;
    }

    /** The strongest relation lock this backend holds on each table that existed before. */
    private Map<String, String> locks() throws SQLException {
      return HeldLocks.on(connection, existing::get);
    }

    private String single(String query) throws SQLException {
      try (PreparedStatement sql = connection.prepareStatement(query);
          ResultSet rs = sql.executeQuery()) {
        return rs.next() ? rs.getString(1) : "";
      } finally {
        connection.clearWarnings();
      }
    }
  }
}
