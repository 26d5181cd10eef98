package io.keyward.schema;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import org.jspecify.annotations.Nullable;

/** The relation locks this backend holds ({@code pg_locks}), strongest mode per known table. */
final class HeldLocks {
  /** PostgreSQL's table lock modes, weakest first. */
  private static final List<String> ORDER = List.of("AccessShareLock", "RowShareLock",
      "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
      "ExclusiveLock", "AccessExclusiveLock");

  private HeldLocks() {}

  /**
   * The strongest granted lock on each table {@code tableName} knows (by oid; null: not one the
   * caller cares about).
   */
  static Map<String, String> on(Connection connection, LongFunction<@Nullable String> tableName)
      throws SQLException {
    Map<String, String> locks = new HashMap<>();
    try (Statement sql = connection.createStatement();
        ResultSet rs = sql.executeQuery("SELECT relation, mode FROM pg_locks WHERE pid ="
            + " pg_backend_pid() AND locktype = 'relation' AND granted")) {
      while (rs.next()) {
        String table = tableName.apply(rs.getLong(1));
        if (table != null) {
          locks.merge(table, rs.getString(2),
              (a, b) -> ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b);
        }
      }
    }
    return locks;
  }
}
