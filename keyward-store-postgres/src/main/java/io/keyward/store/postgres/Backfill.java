package io.keyward.store.postgres;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A data migration that runs outside the DDL transaction, in batches: it sets {@code set} on the
 * rows of {@code table} that match {@code pending}, walking the table in the order of its key
 * column. A schema change that needs data (a new column filled from an old one) ships as a
 * migration that only changes the schema, plus a backfill.
 *
 * @param name stable name; its progress is kept under it in {@code keyward_backfills}
 * @param table the table to update
 * @param keyColumn a unique, indexed column to walk the table by (the primary key)
 * @param set the SET list, e.g. {@code display_name = name}
 * @param pending which rows still need it, e.g. {@code display_name IS NULL}
 */
public record Backfill(String name, String table, String keyColumn, String set, String pending) {
  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

  public Backfill {
    Objects.requireNonNull(set, "set");
    Objects.requireNonNull(pending, "pending");
    for (String[] part : new String[][] {{"name", name}, {"table", table}, {"keyColumn", keyColumn}}) {
      if (part[1] == null || !IDENTIFIER.matcher(part[1]).matches()) {
        throw new IllegalArgumentException("backfill " + part[0] + " '" + part[1]
            + "' must be a lowercase SQL identifier");
      }
    }
  }
}
