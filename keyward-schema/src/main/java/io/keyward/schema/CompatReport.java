package io.keyward.schema;

import io.keyward.schema.QueryContract.ContractStatement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What {@code db compat} found: the breaks (each naming the statement, the migration and the
 * error) and notes (what could not be checked, and why).
 */
public record CompatReport(List<Break> breaks, List<String> notes, int baselineMigrations,
    List<MigrationSet.Migration> checkedMigrations, long elapsedMillis) {

  /** The kinds of break. */
  public enum Kind {
    /** A statement of the previous release fails after a migration: it would fail while serving. */
    PREVIOUS_RELEASE_BREAKS,
    /** A statement of this release fails on the schema before the migrations: no safe rollback. */
    ROLLBACK_BREAKS,
    /** A migration fails on a database holding rows. */
    MIGRATION_FAILS
  }

  /**
   * One break.
   *
   * @param statementNumber 1-based position in its contract (0 for a failing migration)
   * @param migration the migration after which it broke (null for a rollback break)
   */
  public record Break(Kind kind, int statementNumber, @Nullable ContractStatement statement,
      @Nullable String migration, @Nullable String sqlState, String error) {}

  /** Exit status: 0 when nothing breaks, 1 otherwise. */
  public int exitCode() {
    return breaks.isEmpty() ? 0 : 1;
  }

  /** The report for people. */
  public String text() {
    StringBuilder out = new StringBuilder();
    for (Break b : breaks) {
      switch (b.kind()) {
        case PREVIOUS_RELEASE_BREAKS -> out.append("BREAK  previous release, statement ")
            .append(b.statementNumber()).append(line(b)).append(" after ").append(b.migration())
            .append(":\n  ").append(b.statement().summary()).append("\n  ").append(b.error())
            .append('\n');
        case ROLLBACK_BREAKS -> out.append("BREAK  rollback: this release's statement ")
            .append(b.statementNumber()).append(line(b))
            .append(" fails on the schema before the migrations:\n  ")
            .append(b.statement().summary()).append("\n  ").append(b.error()).append('\n');
        case MIGRATION_FAILS -> out.append("BREAK  ").append(b.migration()).append(": ")
            .append(b.error()).append('\n');
      }
    }
    for (String note : notes) {
      out.append("note   ").append(note).append('\n');
    }
    out.append(breaks.isEmpty() ? "compatible" : breaks.size() + " break(s)")
        .append(": ").append(checkedMigrations.size()).append(" migration(s) checked after a baseline of ")
        .append(baselineMigrations).append(", in ").append(elapsedMillis).append(" ms\n");
    return out.toString();
  }

  private static String line(Break b) {
    return b.statement() != null && b.statement().line() > 0
        ? " (line " + b.statement().line() + ")" : "";
  }

  /** The report as a JSON-ready map. */
  public Map<String, Object> json() {
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("compatible", breaks.isEmpty());
    List<Map<String, Object>> list = new ArrayList<>();
    for (Break b : breaks) {
      Map<String, Object> item = new LinkedHashMap<>();
      item.put("kind", b.kind().name());
      item.put("statementNumber", b.statementNumber());
      item.put("line", b.statement() == null ? null : b.statement().line());
      item.put("statement", b.statement() == null ? null : b.statement().sql());
      item.put("migration", b.migration());
      item.put("sqlState", b.sqlState());
      item.put("error", b.error());
      list.add(item);
    }
    root.put("breaks", list);
    root.put("notes", notes);
    root.put("baselineMigrations", baselineMigrations);
    root.put("checkedMigrations", checkedMigrations.stream().map(MigrationSet.Migration::script).toList());
    root.put("elapsedMillis", elapsedMillis);
    return root;
  }
}
