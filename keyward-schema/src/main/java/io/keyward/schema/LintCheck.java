package io.keyward.schema;

import io.keyward.schema.Finding.Severity;
import io.keyward.schema.QueryContract.ContractStatement;
import io.keyward.store.postgres.DatabaseUrl;
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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.flywaydb.core.api.MigrationVersion;
import org.jspecify.annotations.Nullable;

/**
 * The dynamic half of {@code db lint}: PostgreSQL itself is the grammar and the witness. On a
 * scratch database holding the baseline and generated rows, each later migration is run the way
 * Flyway runs it (the whole file in one transaction, or statement by statement when PostgreSQL
 * refuses one of its statements inside a transaction), one statement at a time, and for each
 * statement the evidence is recorded: the locks it holds on tables that existed before (and
 * whether they block reads or writes), the {@code lock_timeout} in effect, rows written (per
 * table, transaction-local), table rewrites (a new relfilenode), what DDL it was (an event trigger
 * on {@code ddl_command_end} reports each command's tag and object), and the catalog before and
 * after (renamed, dropped, retyped and NOT NULL columns; constraints validated in place). Tables
 * created by a migration are timed from their creation to the commit: how long they stayed
 * invisible to every other connection. Meanwhile a second connection replays the previous
 * release's query contract in a loop and records each statement that waited or failed.
 *
 * <p>Findings are made from that evidence, never from the text: a migration that creates a table
 * and fills it in the same transaction is caught because rows were written into a table nobody
 * else could see (incident I-1), whatever SQL did it (INSERT, COPY, DO, a function).
 */
public final class LintCheck {
  /** Locks that block readers of a table (and everything else). */
  private static final Set<String> BLOCKS_READS = Set.of("AccessExclusiveLock");
  /** Locks that block writers of a table. */
  private static final Set<String> BLOCKS_WRITES = Set.of("ShareLock", "ShareRowExclusiveLock",
      "ExclusiveLock", "AccessExclusiveLock");
  private static final long WAIT_REPORTED_MILLIS = 500;
  private static final String DDL_LOG = "keyward_lint_ddl";
  /** The first PostgreSQL that prints every parse node ({@code server_version_num}). */
  private static final int STATIC_MIN_VERSION = 160000;

  private LintCheck() {}

  /**
   * What to lint.
   *
   * @param halves which checks run
   */
  public record Request(MigrationSet migrations, String fromVersion,
      @Nullable QueryContract previous, @Nullable DatabaseUrl scratchServer, int rows,
      @Nullable String seedSql, Duration runnerLockTimeout, Halves halves) {

    /** Both halves, static and dynamic. */
    public Request(MigrationSet migrations, String fromVersion, @Nullable QueryContract previous,
        @Nullable DatabaseUrl scratchServer, int rows, @Nullable String seedSql,
        Duration runnerLockTimeout) {
      this(migrations, fromVersion, previous, scratchServer, rows, seedSql, runnerLockTimeout,
          Halves.BOTH);
    }
  }

  /** Which halves of the lint run. */
  public enum Halves {
    /** The statements judged from their text, on a model of the schema without rows. */
    STATIC,
    /** The migrations run on rows, judged from what PostgreSQL did. */
    DYNAMIC,
    /** Both; where they find the same rule on the same line, the dynamic finding is kept. */
    BOTH;

    boolean runsStatic() {
      return this != DYNAMIC;
    }

    boolean runsDynamic() {
      return this != STATIC;
    }
  }

  /** Findings, with how long it took. */
  public record Report(List<Finding> findings, List<String> checkedFiles, long elapsedMillis) {}

  /**
   * Runs the static check ({@link StaticLint}) and, unless the request says not to, the dynamic
   * one; where both find the same rule on the same line, the dynamic finding (with its evidence)
   * is kept.
   */
  public static Report run(Request request) {
    long started = System.nanoTime();
    try (ScratchDatabase scratch = ScratchDatabase.create(request.scratchServer())) {
      List<MigrationSet.MigrationFile> files = request.migrations().files(scratch.url());
      MigrationVersion from = MigrationVersion.fromVersion(request.fromVersion());
      String lastBaseline = null;
      List<MigrationSet.MigrationFile> pending = new ArrayList<>();
      for (MigrationSet.MigrationFile file : files) {
        if (MigrationVersion.fromVersion(file.version()).compareTo(from) < 0) {
          lastBaseline = file.version();
        } else {
          pending.add(file);
        }
      }
      Map<String, StaticLint.FileResult> statics = new HashMap<>();
      for (MigrationSet.MigrationFile file : pending) {
        statics.put(file.script(), new StaticLint.FileResult(List.of(), Map.of()));
      }
      if (request.halves().runsStatic()) {
        // The grammar's trees of DDL are printed from PostgreSQL 16 on; an older scratch server
        // gets an embedded one beside it for the static half.
        try (ScratchDatabase model = scratch.serverVersion() >= STATIC_MIN_VERSION
            ? scratch.another() : ScratchDatabase.create(null)) {
          statics.putAll(StaticLint.run(model, request.migrations(), lastBaseline, pending,
              request.runnerLockTimeout()));
        }
      }
      Map<String, List<Finding>> dynamics = request.halves().runsDynamic()
          ? dynamic(scratch, request, lastBaseline, pending, statics) : Map.of();
      List<Finding> findings = new ArrayList<>();
      for (MigrationSet.MigrationFile file : pending) {
        List<Finding> dynamicFound = dynamics.getOrDefault(file.script(), List.of());
        List<Finding> merged = new ArrayList<>(dynamicFound);
        for (Finding found : statics.get(file.script()).findings()) {
          if (dynamicFound.stream().noneMatch(d -> d.line() == found.line()
              && (d.rule().equals(found.rule()) || d.rule().equals("new-table-backfilled")
                  && found.rule().equals("data-in-ddl-transaction")))) {
            merged.add(found);
          }
        }
        merged.sort(java.util.Comparator.comparingInt(Finding::line));
        findings.addAll(applyAllowComments(file, merged));
      }
      return new Report(findings, pending.stream().map(MigrationSet.MigrationFile::script).toList(),
          (System.nanoTime() - started) / 1_000_000);
    }
  }

  /** The dynamic check: each file run on a database with rows, the evidence recorded. */
  private static Map<String, List<Finding>> dynamic(ScratchDatabase scratch, Request request,
      @Nullable String lastBaseline, List<MigrationSet.MigrationFile> pending,
      Map<String, StaticLint.FileResult> statics) {
    Map<String, List<Finding>> findings = new HashMap<>();
    // The runner's lock_timeout is a connection option, as Keyward's runner sets it, so that a
    // migration's RESET returns to it rather than to none.
    try (Connection connection = scratch.connect(
        "-c lock_timeout=" + request.runnerLockTimeout().toMillis())) {
      if (lastBaseline != null) {
        request.migrations().migrateTo(scratch.url(), lastBaseline);
      }
      if (request.seedSql() != null) {
        try (Statement statement = connection.createStatement()) {
          for (SqlScript.Statement each : SqlScript.split(
              request.seedSql().replace("${rows}", Integer.toString(request.rows())))) {
            statement.execute(each.sql());
          }
        }
      }
      RowFiller.fill(connection, request.rows(), "keyward_scratch_history");
      installDdlLog(connection);
      for (MigrationSet.MigrationFile file : pending) {
        List<Finding> found = new FileRun(scratch, connection, file, request,
            statics.get(file.script())).run();
        findings.put(file.script(), found);
        if (found.stream().anyMatch(f -> f.rule().equals("statement-fails"))) {
          break; // the schema after it is unknown; later files are judged statically only
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("the scratch database failed: " + e.getMessage(), e);
    }
    return findings;
  }

  private static void installDdlLog(Connection connection) throws SQLException {
    try (Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE " + DDL_LOG + " (seq bigserial PRIMARY KEY, tag text,"
          + " object_type text, identity text)");
      statement.execute("CREATE FUNCTION keyward_lint_log_ddl() RETURNS event_trigger"
          + " LANGUAGE plpgsql AS $$ BEGIN INSERT INTO " + DDL_LOG + " (tag, object_type, identity)"
          + " SELECT command_tag, object_type, object_identity FROM pg_event_trigger_ddl_commands();"
          + " END $$");
      statement.execute("CREATE EVENT TRIGGER keyward_lint_ddl ON ddl_command_end"
          + " EXECUTE FUNCTION keyward_lint_log_ddl()");
    }
  }

  /** The lint of one migration file. */
  private static final class FileRun {
    private final ScratchDatabase scratch;
    private final Connection connection;
    private final MigrationSet.MigrationFile file;
    private final Request request;
    private final StaticLint.FileResult statics;
    private final List<Finding> findings = new ArrayList<>();
    private int firstLine = 1;

    FileRun(ScratchDatabase scratch, Connection connection, MigrationSet.MigrationFile file,
        Request request, StaticLint.FileResult statics) {
      this.scratch = scratch;
      this.connection = connection;
      this.file = file;
      this.request = request;
      this.statics = statics;
    }

    List<Finding> run() throws SQLException {
      List<SqlScript.Statement> statements = SqlScript.split(file.sql());
      firstLine = statements.isEmpty() ? 1 : statements.get(0).line();
      Catalog before = Catalog.read(connection);
      boolean transactional = runsInATransaction(statements);
      Replay replay = request.previous() == null ? null
          : Replay.start(scratch, request.previous());
      try {
        return runStatements(statements, before, transactional, replay);
      } finally {
        if (replay != null) {
          replay.stop(); // idempotent: ends the replay on every path, an exception's included
        }
      }
    }

    private List<Finding> runStatements(List<SqlScript.Statement> statements, Catalog before,
        boolean transactional, @Nullable Replay replay) throws SQLException {
      Map<String, Long> createdAt = new LinkedHashMap<>(); // new table -> when (nanos)
      Map<String, Integer> createdLine = new HashMap<>();
      Map<String, Long> writtenInto = new LinkedHashMap<>();
      Set<String> blockingHeldSince = new HashSet<>();
      int blockingLine = 0;
      boolean ddlSeen = false;
      long ddlSeq = ddlSeq();
      long commitNanos;
      try {
        connection.setAutoCommit(!transactional);
        Map<String, Long> writesBefore = writes();
        for (SqlScript.Statement statement : statements) {
          if (!blockingHeldSince.isEmpty()) {
            add(statement.line(), "statement-after-blocking-ddl", Severity.ERROR,
                "runs while the transaction holds a lock that blocks "
                    + String.join(", ", blockingHeldSince) + " (taken at line " + blockingLine
                    + "); every statement after it makes the outage longer",
                "end the migration after the blocking statement; put what follows in its own migration");
          }
          String lockTimeout = setting("lock_timeout");
          Map<String, String> locksBefore = transactional ? locks(before) : Map.of();
          // Outside a file-level transaction, a statement that can run in a transaction runs in
          // one of its own, so that its locks can be seen before they are released.
          boolean ownTransaction = !transactional;
          if (ownTransaction) {
            connection.setAutoCommit(false);
          }
          long t0 = System.nanoTime();
          try (Statement sql = connection.createStatement()) {
            try {
              sql.execute(statement.sql());
            } catch (SQLException e) {
              if (!ownTransaction || !"25001".equals(e.getSQLState())) {
                throw e;
              }
              connection.rollback();
              connection.setAutoCommit(true); // CONCURRENTLY and friends: as Flyway runs them
              ownTransaction = false;
              t0 = System.nanoTime();
              sql.execute(statement.sql());
            }
          } catch (SQLException e) {
            if (!connection.getAutoCommit()) {
              connection.rollback();
            }
            add(statement.line(), "statement-fails", Severity.ERROR,
                "PostgreSQL refuses it on a database holding the baseline and " + request.rows()
                    + " rows per table: " + ErrorText.firstLine(e.getMessage()) + " (SQLState "
                    + e.getSQLState() + ")",
                e.getSQLState() != null && e.getSQLState().startsWith("42")
                    ? "fix the statement" : "make the migration work on a table that has rows");
            stopReplay(replay, 0, statements.get(0).line());
            return findings;
          }
          long elapsedMillis = (System.nanoTime() - t0) / 1_000_000;
          List<String[]> ddl = ddlSince(ddlSeq);
          ddlSeq = ddlSeq();
          for (String[] command : ddl) {
            ddlSeen = true;
            if (command[0].equals("CREATE TABLE") && command[1].equals("table")) {
              createdAt.putIfAbsent(command[2], t0);
              createdLine.putIfAbsent(command[2], statement.line());
            }
          }
          Map<String, String> locksNow = locks(before);
          for (String[] command : ddl) {
            // A plain index build takes SHARE (blocks writes); a concurrent one SHARE UPDATE
            // EXCLUSIVE: the lock it took says which it was.
            if (command[0].equals("CREATE INDEX")) {
              String table = before.tableOfIndex(connection, command[2]);
              if (table != null && "ShareLock".equals(locksNow.get(table))
                  && !"ShareLock".equals(locksBefore.get(table))) {
                add(statement.line(), "index-not-concurrent", Severity.ERROR,
                    "builds index " + command[2] + " on existing table " + table + " while blocking"
                        + " its writes (" + elapsedMillis + " ms here, with " + request.rows()
                        + " rows)",
                    "CREATE INDEX CONCURRENTLY, alone in a migration Flyway runs outside a"
                        + " transaction");
              }
            }
          }
          for (Map.Entry<String, String> lock : locksNow.entrySet()) {
            String table = lock.getKey();
            String mode = lock.getValue();
            boolean newLock = !mode.equals(locksBefore.get(table));
            if (!newLock) {
              continue;
            }
            String blocks = BLOCKS_READS.contains(mode) ? "reads and writes of " + table
                : BLOCKS_WRITES.contains(mode) ? "writes of " + table : null;
            if (blocks == null) {
              continue;
            }
            if (transactional) {
              blockingHeldSince.add(blocks);
              blockingLine = blockingLine == 0 ? statement.line() : blockingLine;
            }
            if (lockTimeout.equals("0")) {
              add(statement.line(), "blocking-lock-without-timeout", Severity.ERROR,
                  "takes " + mode + " on " + table + " (blocks " + blocks + ") with no lock_timeout:"
                      + " queued behind a long transaction, it would queue every query of the table"
                      + " behind it",
                  "SET lock_timeout = '2s' before it and retry on failure (keyward migrate does:"
                      + " 5 s, retried with backoff)");
            }
          }
          if (transactional) {
            Map<String, Long> writesNow = writes();
            for (Map.Entry<String, Long> entry : writesNow.entrySet()) {
              String oid = entry.getKey().substring(0, entry.getKey().indexOf(':'));
              long previous = 0;
              for (Map.Entry<String, Long> earlier : writesBefore.entrySet()) {
                if (earlier.getKey().startsWith(oid + ":")) {
                  previous = earlier.getValue();
                }
              }
              long delta = entry.getValue() - previous;
              if (delta > 0) {
                String table = entry.getKey().substring(entry.getKey().indexOf(':') + 1);
                writtenInto.merge(table, delta, Long::sum);
                boolean newTable = createdAt.keySet().stream()
                    .anyMatch(created -> created.endsWith("." + table) || created.equals(table));
                if (newTable) {
                  add(statement.line(), "new-table-backfilled", Severity.ERROR,
                      "writes " + delta + " row(s) into " + table + ", created in this same"
                          + " transaction: the table stays invisible to every other connection"
                          + " until the migration commits, so code that reads it fails (42P01)"
                          + " for as long as the backfill runs (incident I-1)",
                      "create the table in one migration; backfill it in batches outside the DDL"
                          + " transaction (a data migration of its own), behind a schema gate");
                } else if (ddlSeen) {
                  add(statement.line(), "data-in-ddl-transaction", Severity.ERROR,
                      "writes " + delta + " row(s) into " + table + " in the transaction of a"
                          + " schema change: the DDL's locks are held until the data change ends",
                      "move the data change to a migration of its own, batched, outside the DDL"
                          + " transaction");
                }
              }
            }
            writesBefore = writesNow;
          }
          if (ownTransaction) {
            connection.commit();
            connection.setAutoCommit(true);
          }
        }
        if (transactional) {
          connection.commit();
        }
        commitNanos = System.nanoTime();
      } finally {
        connection.setAutoCommit(true);
      }
      for (Map.Entry<String, Long> created : createdAt.entrySet()) {
        long invisibleMillis = (commitNanos - created.getValue()) / 1_000_000;
        if (transactional && invisibleMillis >= 1 && writtenInto.keySet().stream()
            .anyMatch(t -> created.getKey().endsWith("." + t) || created.getKey().equals(t))) {
          add(createdLine.get(created.getKey()), "new-table-backfilled", Severity.ERROR,
              created.getKey() + " stayed invisible to other connections for " + invisibleMillis
                  + " ms (from its CREATE to the commit) with " + request.rows() + " rows per table",
              "commit the CREATE TABLE on its own; backfill afterwards");
        }
      }
      Catalog after = Catalog.read(connection);
      before.compare(after, this);
      stopReplay(replay, commitNanos, statements.isEmpty() ? 1 : statements.get(0).line());
      return findings;
    }

    private void stopReplay(@Nullable Replay replay, long commitNanos, int line) {
      if (replay == null) {
        return;
      }
      for (Replay.Event event : replay.stop()) {
        if (event.error() != null) {
          add(line, "previous-release-fails", Severity.ERROR,
              "while this migration ran, the previous release's statement " + event.number() + " ("
                  + event.statement().summary() + ") failed: " + event.error(),
              "keep what the previous release uses until no node runs it (expand, then contract)");
        } else {
          add(line, "previous-release-blocked", Severity.ERROR,
              "while this migration ran, the previous release's statement " + event.number() + " ("
                  + event.statement().summary() + ") waited " + event.millis() + " ms",
              "take locks that block it only briefly (lock_timeout, short transactions), or not at all");
        }
      }
    }

    private boolean runsInATransaction(List<SqlScript.Statement> statements) throws SQLException {
      // Flyway runs a file outside a transaction when PostgreSQL refuses one of its statements
      // inside one (CREATE INDEX CONCURRENTLY, VACUUM...): ask PostgreSQL, in a transaction
      // that is rolled back, one statement at a time.
      boolean autoCommit = connection.getAutoCommit();
      connection.setAutoCommit(false);
      boolean anyTransactional = false;
      boolean anyNot = false;
      int notLine = 0;
      try {
        for (SqlScript.Statement statement : statements) {
          try (Statement sql = connection.createStatement()) {
            sql.execute("SAVEPOINT keyward_lint_probe");
            // Cancelled after 1 ms: a statement that may run in a transaction is cancelled
            // (57014) or done and rolled back; one that may not is refused (25001) before it
            // does anything. Either way the probe does not do the work twice.
            sql.execute("SET LOCAL statement_timeout = 1");
            sql.execute(statement.sql());
            anyTransactional = true;
          } catch (SQLException e) {
            if ("25001".equals(e.getSQLState())) {
              anyNot = true;
              notLine = statement.line();
            } else {
              anyTransactional = true;
            }
          } finally {
            try (Statement sql = connection.createStatement()) {
              sql.execute("ROLLBACK TO SAVEPOINT keyward_lint_probe");
            } catch (SQLException ignored) {
              // the transaction is rolled back below anyway
            }
          }
        }
      } finally {
        connection.rollback();
        connection.setAutoCommit(autoCommit);
      }
      if (anyNot && anyTransactional && statements.size() > 1) {
        add(notLine, "mixed-transaction", Severity.WARNING,
            "mixes statements that cannot run in a transaction with ones that can: the whole file"
                + " runs outside a transaction (Flyway with mixed), so a failure leaves it half done",
            "give the statement that cannot run in a transaction a migration of its own");
      }
      return !anyNot;
    }

    void add(int line, String rule, Severity severity, String message, String fix) {
      findings.add(new Finding(file.script(), line, rule, severity, message, fix, null));
    }

    /**
     * A finding from the catalog, which has no statement: it goes on the line where the static
     * half found the same rule about the same subject (a table, or {@code table.column}).
     */
    void addAbout(String subject, String rule, Severity severity, String message, String fix) {
      add(statics.lineOf(rule, subject, firstLine), rule, severity, message, fix);
    }

    private String setting(String name) throws SQLException {
      try (Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT setting FROM pg_settings WHERE name = '" + name + "'")) {
        rs.next();
        return rs.getString(1);
      }
    }

    private long ddlSeq() throws SQLException {
      try (Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT coalesce(max(seq), 0) FROM " + DDL_LOG)) {
        rs.next();
        return rs.getLong(1);
      }
    }

    private List<String[]> ddlSince(long seq) throws SQLException {
      List<String[]> commands = new ArrayList<>();
      try (PreparedStatement sql = connection.prepareStatement(
          "SELECT tag, object_type, identity FROM " + DDL_LOG + " WHERE seq > ? ORDER BY seq")) {
        sql.setLong(1, seq);
        try (ResultSet rs = sql.executeQuery()) {
          while (rs.next()) {
            commands.add(new String[] {rs.getString(1), rs.getString(2),
                rs.getString(3) == null ? "" : rs.getString(3)});
          }
        }
      }
      return commands;
    }

    /** Relation locks this backend holds on tables that existed before the file, by table. */
    private Map<String, String> locks(Catalog before) throws SQLException {
      return HeldLocks.on(connection, before::tableName);
    }

    /**
     * Rows inserted, updated or deleted, by table ({@code oid:name}): the backend's counts not yet
     * flushed, so only differences between two readings mean anything. Keyed by oid, so that a
     * renamed table is not taken for one that was written into.
     */
    private Map<String, Long> writes() throws SQLException {
      Map<String, Long> writes = new HashMap<>();
      try (Statement sql = connection.createStatement();
          ResultSet rs = sql.executeQuery("SELECT relid || ':' || relname,"
              + " n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
              + " WHERE relname <> '" + DDL_LOG + "'")) {
        while (rs.next()) {
          writes.put(rs.getString(1), rs.getLong(2));
        }
      }
      return writes;
    }
  }

  /** The catalog facts the rules compare: tables, columns, constraints of the public schema. */
  private record Catalog(Map<Long, String> tables, Map<Long, Long> relfilenodes,
      Map<String, String[]> columns, Map<String, String[]> constraints) {

    static Catalog read(Connection connection) throws SQLException {
      Map<Long, String> tables = new HashMap<>();
      Map<Long, Long> relfilenodes = new HashMap<>();
      Map<String, String[]> columns = new HashMap<>();
      Map<String, String[]> constraints = new HashMap<>();
      try (Statement sql = connection.createStatement()) {
        try (ResultSet rs = sql.executeQuery("SELECT c.oid, c.relname, c.relfilenode FROM pg_class c"
            + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            + " AND c.relkind IN ('r', 'p') AND c.relname NOT IN ('" + DDL_LOG + "',"
            + " 'keyward_scratch_history')")) {
          while (rs.next()) {
            tables.put(rs.getLong(1), rs.getString(2));
            relfilenodes.put(rs.getLong(1), rs.getLong(3));
          }
        }
        try (ResultSet rs = sql.executeQuery("SELECT a.attrelid, a.attnum, a.attname,"
            + " format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attisdropped"
            + " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            + " AND c.relkind IN ('r', 'p') AND a.attnum > 0")) {
          while (rs.next()) {
            columns.put(rs.getLong(1) + "/" + rs.getInt(2), new String[] {rs.getString(3),
                rs.getString(4), Boolean.toString(rs.getBoolean(5)), Boolean.toString(rs.getBoolean(6))});
          }
        }
        try (ResultSet rs = sql.executeQuery("SELECT c.conrelid, c.conname, c.contype::text,"
            + " c.convalidated FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            + " WHERE n.nspname = 'public' AND c.conrelid <> 0")) {
          while (rs.next()) {
            constraints.put(rs.getLong(1) + "/" + rs.getString(2), new String[] {rs.getString(3),
                Boolean.toString(rs.getBoolean(4))});
          }
        }
      }
      return new Catalog(tables, relfilenodes, columns, constraints);
    }

    @Nullable String tableName(long oid) {
      return tables.get(oid);
    }

    /** The existing table an index is on, or null (a new table's index). */
    @Nullable String tableOfIndex(Connection connection, String indexIdentity) throws SQLException {
      try (PreparedStatement sql = connection.prepareStatement(
          "SELECT indrelid FROM pg_index WHERE indexrelid = to_regclass(?)")) {
        sql.setString(1, indexIdentity);
        try (ResultSet rs = sql.executeQuery()) {
          return rs.next() ? tables.get(rs.getLong(1)) : null;
        }
      }
    }

    /** Findings from what changed on tables that existed before the file. */
    void compare(Catalog after, FileRun run) {
      for (Map.Entry<Long, String> table : tables.entrySet()) {
        long oid = table.getKey();
        String name = table.getValue();
        if (!after.tables.containsKey(oid)) {
          run.addAbout(name, "table-dropped", Severity.ERROR, "drops table " + name
              + ", which the previous release may still use", "drop it in a later release, once"
              + " no node reads it (expand, then contract)");
          continue;
        }
        if (!after.tables.get(oid).equals(name)) {
          run.addAbout(name, "table-renamed", Severity.ERROR, "renames table " + name + " to "
              + after.tables.get(oid) + ": the previous release's queries fail",
              "create the new table (or a view with the old name) and move over in steps");
        }
        if (!after.relfilenodes.get(oid).equals(relfilenodes.get(oid))) {
          run.addAbout(name, "table-rewrite", Severity.ERROR, "rewrites table " + name
              + " (new relfilenode) under ACCESS EXCLUSIVE: no reads or writes until it is done",
              "add a new column and backfill it in batches instead of changing the type or adding"
                  + " a volatile default");
        }
      }
      for (Map.Entry<String, String[]> column : columns.entrySet()) {
        long oid = Long.parseLong(column.getKey().substring(0, column.getKey().indexOf('/')));
        String table = tables.get(oid);
        if (table == null || "true".equals(column.getValue()[3])) {
          continue;
        }
        String[] now = after.columns.get(column.getKey());
        String name = column.getValue()[0];
        if (now == null || "true".equals(now[3])) {
          run.addAbout(table + "." + name, "column-dropped", Severity.ERROR, "drops column " + table + "." + name
              + ", which the previous release may still read or write",
              "stop using it in one release, drop it in a later one");
        } else {
          if (!now[0].equals(name)) {
            run.addAbout(table + "." + name, "column-renamed", Severity.ERROR, "renames column " + table + "." + name
                + " to " + now[0] + ": the previous release's queries fail (42703)",
                "add the new column, write both, backfill, switch reads, then drop the old one");
          }
          if (!now[1].equals(column.getValue()[1])) {
            run.addAbout(table + "." + name, "column-type-changed", Severity.ERROR, "changes " + table + "." + name
                + " from " + column.getValue()[1] + " to " + now[1],
                "add a column of the new type and move over in steps");
          }
          if ("false".equals(column.getValue()[2]) && "true".equals(now[2])) {
            run.addAbout(table + "." + name, "set-not-null", Severity.ERROR, "makes " + table + "." + name
                + " NOT NULL: a full scan under ACCESS EXCLUSIVE, and the previous release may"
                + " still write NULL", "add CHECK (" + name + " IS NOT NULL) NOT VALID, VALIDATE it"
                + " later, then SET NOT NULL (no scan on PostgreSQL 12+)");
          }
        }
      }
      for (Map.Entry<String, String[]> added : after.columns.entrySet()) {
        long oid = Long.parseLong(added.getKey().substring(0, added.getKey().indexOf('/')));
        if (columns.containsKey(added.getKey()) || "true".equals(added.getValue()[3])) {
          continue;
        }
        String type = added.getValue()[1];
        String where = after.tables.get(oid) + "." + added.getValue()[0];
        if (type.equals("timestamp without time zone")) {
          run.addAbout(where, "prefer-timestamptz", Severity.WARNING, where + " is a timestamp without"
              + " time zone", "use timestamptz");
        } else if (type.equals("json")) {
          run.addAbout(where, "prefer-jsonb", Severity.WARNING, where + " is json", "use jsonb");
        }
      }
      for (Map.Entry<String, String[]> constraint : after.constraints.entrySet()) {
        if (constraints.containsKey(constraint.getKey())) {
          continue;
        }
        long oid = Long.parseLong(constraint.getKey().substring(0, constraint.getKey().indexOf('/')));
        String table = tables.get(oid);
        if (table == null) {
          continue; // a table created by this file
        }
        String type = constraint.getValue()[0];
        String name = constraint.getKey().substring(constraint.getKey().indexOf('/') + 1);
        if ((type.equals("f") || type.equals("c")) && "true".equals(constraint.getValue()[1])) {
          run.addAbout(table, "constraint-validated-in-place", Severity.ERROR, "adds "
              + (type.equals("f") ? "foreign key " : "check ") + name + " to " + table
              + " validated at once: a full scan while writes are blocked",
              "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration");
        } else if (type.equals("u") || type.equals("p")) {
          run.addAbout(table, "unique-built-in-place", Severity.ERROR, "adds "
              + (type.equals("u") ? "unique constraint " : "primary key ") + name + " to " + table
              + ", building its index under ACCESS EXCLUSIVE",
              "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX");
        }
      }
    }
  }

  /** A second connection replaying a contract in a loop while a migration runs. */
  private static final class Replay {
    record Event(int number, ContractStatement statement, long millis, @Nullable String error) {}

    private final Thread thread;
    private final List<Event> events = new CopyOnWriteArrayList<>();
    private volatile boolean stopped;

    private Replay(Connection connection, QueryContract contract,
        List<ContractChecker.Result> baseline) {
      this.thread = Thread.ofVirtual().unstarted(() -> loop(connection, contract, baseline));
    }

    /** Opens the replay's connection and takes the reference results before the migration. */
    static Replay start(ScratchDatabase scratch, QueryContract contract) throws SQLException {
      Connection connection = scratch.connect();
      try {
        Replay replay = new Replay(connection, contract, ContractChecker.check(connection, contract));
        replay.thread.start();
        return replay;
      } catch (SQLException | RuntimeException e) {
        connection.close();
        throw e;
      }
    }

    private void loop(Connection connection, QueryContract contract,
        List<ContractChecker.Result> baseline) {
      try (connection) {
        Set<Integer> reported = new HashSet<>();
        while (!stopped) {
          for (int i = 0; i < contract.statements().size() && !stopped; i++) {
            long t0 = System.nanoTime();
            ContractChecker.Result result = ContractChecker.check(connection,
                new QueryContract(List.of(contract.statements().get(i)), java.util.OptionalInt.empty()))
                .get(0);
            long millis = (System.nanoTime() - t0) / 1_000_000;
            if (reported.contains(i)) {
              continue;
            }
            if (CompatCheck.isBreak(baseline.get(i), result)) {
              reported.add(i);
              events.add(new Event(i + 1, contract.statements().get(i), millis, result.describe()));
            } else if (millis >= WAIT_REPORTED_MILLIS) {
              reported.add(i);
              events.add(new Event(i + 1, contract.statements().get(i), millis, null));
            }
          }
          Thread.sleep(10);
        }
      } catch (SQLException | InterruptedException e) {
        // the replay is evidence, not the check: it ends quietly
      }
    }

    List<Event> stop() {
      if (stopped) {
        return List.of();
      }
      stopped = true;
      try {
        thread.join(Duration.ofSeconds(30));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return List.copyOf(events);
    }
  }

  /**
   * Applies {@code -- lint: allow <rule> <reason>} comments: a finding of that rule on the
   * statement right after the comment (or anywhere in the file for a comment at line 1) is kept
   * but marked allowed.
   */
  static List<Finding> applyAllowComments(MigrationSet.MigrationFile file, List<Finding> findings) {
    String[] lines = file.sql().split("\n", -1);
    List<Finding> out = new ArrayList<>();
    for (Finding finding : findings) {
      String reason = null;
      for (int i = 0; i < lines.length; i++) {
        String line = lines[i].strip();
        if (!line.startsWith("-- lint: allow ")) {
          continue;
        }
        String[] words = line.substring("-- lint: allow ".length()).strip().split("\\s+", 2);
        boolean fileWide = i == 0;
        boolean nearby = i + 1 < finding.line() && finding.line() - (i + 1) <= 3;
        if (words[0].equals(finding.rule()) && (fileWide || nearby || i + 1 == finding.line() - 1)) {
          reason = words.length > 1 ? words[1] : "(no reason given)";
        }
      }
      out.add(reason == null ? finding : finding.allowed(reason));
    }
    return out;
  }
}
