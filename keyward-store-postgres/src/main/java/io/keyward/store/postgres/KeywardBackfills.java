package io.keyward.store.postgres;

import java.util.List;

/**
 * Keyward's own data migrations, in the order they run, after the schema migrations and outside
 * their transactions ({@code keyward migrate} runs them in the foreground, and a server that
 * migrates at start in the background; see {@link BackfillRunner}). None yet:
 * a release that needs one (a new column filled from an old one) ships the column in a schema
 * migration and the filling here, never both in one SQL file ({@code db lint} rejects that).
 */
public final class KeywardBackfills {
  /** Every backfill of this release. */
  public static final List<Backfill> ALL = List.of();

  private KeywardBackfills() {}
}
