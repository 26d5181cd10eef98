package io.keyward.schema;

import io.keyward.schema.ContractChecker.Result;
import io.keyward.schema.QueryContract.ContractStatement;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.ErrorText;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.flywaydb.core.api.FlywayException;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.callback.Callback;
import org.flywaydb.core.api.callback.Context;
import org.flywaydb.core.api.callback.Event;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gate nobody can skip (incident I-3): a migration that breaks the query contract of a
 * release that is still running is not applied. Each live node records its contract in the node
 * registry; before each migration the gate runs every live contract on the migration's own
 * connection, and again after the migration's statements, inside its transaction and before it
 * commits (each statement prepared in a savepoint that is rolled back). A statement
 * that worked before and fails after is a break: the migration fails and is rolled back, naming
 * the nodes and the statements. A statement issued behind a schema gate ({@code -- gated}) may
 * fail: its path switches itself off. An explicit override with a reason lets the migration
 * through and records it in {@code keyward_migration_overrides}.
 *
 * <p>Whether a migration is an expand or a contract is therefore decided by what it does to the
 * live releases' statements on the real schema, not by its file name.
 *
 * <p>Inside a production migration the statements are only prepared, never executed (no row
 * locks while the migration holds its own, nothing a contract says is run); statements other
 * than SELECT, INSERT, UPDATE, DELETE and WITH are skipped; a check that ends or replaces the
 * migration's transaction fails the migration. {@code db compat} executes them too, on a
 * scratch database.
 */
public final class ContractGate implements Callback {
  private static final Logger LOG = LoggerFactory.getLogger(ContractGate.class);
  static final String LIVE_CONTRACTS =
      "SELECT contract_sha256, contract, string_agg(node_id || ' (' || release || ')', ', '"
          + " ORDER BY node_id) FROM keyward_nodes WHERE stopped_at IS NULL"
          + " AND heartbeat_at > now() - interval '15 seconds'"
          + " AND heartbeat_at <= now() + interval '5 seconds' GROUP BY contract_sha256, contract";

  /** A contract and the live nodes running it. */
  record LiveContract(String nodes, QueryContract contract) {}

  private final List<LiveContract> live;
  private final @Nullable String overrideReason;
  private final Map<LiveContract, List<Result>> before = new IdentityHashMap<>();

  ContractGate(List<LiveContract> live, @Nullable String overrideReason) {
    this.live = List.copyOf(live);
    this.overrideReason = overrideReason;
  }

  /**
   * The gate for {@code database}: the contracts of its live nodes (none while the registry's
   * table does not exist yet).
   *
   * @param overrideReason non-null to apply a breaking migration anyway, recording why
   */
  public static ContractGate forDatabase(DatabaseUrl database, @Nullable String overrideReason) {
    List<LiveContract> live = new ArrayList<>();
    try (Connection connection = DriverManager.getConnection(database.jdbcUrl(), database.user(),
            database.password());
        PreparedStatement statement = connection.prepareStatement(LIVE_CONTRACTS);
        ResultSet rs = statement.executeQuery()) {
      while (rs.next()) {
        live.add(new LiveContract(rs.getString(3), QueryContract.parse(rs.getString(2))));
      }
    } catch (SQLException e) {
      String state = e.getSQLState() == null ? "" : e.getSQLState();
      if (state.startsWith("08")) {
        throw new IllegalStateException("cannot reach the database at " + database + ": "
            + ErrorText.firstLine(e.getMessage()), e);
      }
      if (!"42P01".equals(state)) { // no registry yet: no live node to hold migrations to
        throw new IllegalStateException("cannot read the live nodes' contracts from " + database
            + ": " + ErrorText.firstLine(e.getMessage()), e);
      }
    }
    return new ContractGate(live, overrideReason);
  }

  /** How many distinct live contracts the gate holds migrations to. */
  public int liveContracts() {
    return live.size();
  }

  @Override
  public boolean supports(Event event, Context context) {
    return !live.isEmpty()
        && (event == Event.BEFORE_EACH_MIGRATE || event == Event.AFTER_EACH_MIGRATE);
  }

  @Override
  public boolean canHandleInTransaction(Event event, Context context) {
    return true;
  }

  @Override
  public void handle(Event event, Context context) {
    Connection connection = context.getConnection();
    try {
      if (event == Event.BEFORE_EACH_MIGRATE) {
        before.clear();
        for (LiveContract contract : live) {
          before.put(contract, check(connection, contract.contract()));
        }
        return;
      }
      List<String> broken = new ArrayList<>();
      for (LiveContract contract : live) {
        List<Result> now = check(connection, contract.contract());
        List<Result> reference = before.get(contract);
        for (int i = 0; i < now.size(); i++) {
          ContractStatement statement = contract.contract().statements().get(i);
          if (!statement.gated() && reference != null
              && CompatCheck.isBreak(reference.get(i), now.get(i))) {
            broken.add("live node(s) " + contract.nodes() + ": statement " + (i + 1) + " ("
                + statement.summary() + ") " + now.get(i).describe());
          }
        }
      }
      if (broken.isEmpty()) {
        return;
      }
      MigrationInfo migration = context.getMigrationInfo();
      String script = migration == null ? "a migration" : migration.getScript();
      if (connection.getAutoCommit()) {
        // Flyway ran it outside a transaction: it is applied, and failing now would only leave a
        // failed row in the history that blocks every later migrate. Say so, loudly.
        LOG.error("{} ran outside a transaction and breaks the query contract of {}; it is"
            + " applied and cannot be rolled back", script, String.join("; ", broken));
        return;
      }
      if (overrideReason != null) {
        record(connection, migration, script, broken);
        LOG.warn("{} breaks the contract of live nodes and is applied by override ({}): {}",
            script, overrideReason, String.join("; ", broken));
        return;
      }
      throw new FlywayException(script + " breaks the query contract of "
          + String.join("; ", broken) + ". It was rolled back. Apply it once no such node runs"
          + " (expand first, contract later), or override with a reason.");
    } catch (SQLException e) {
      throw new FlywayException("the contract gate could not check " + e.getMessage(), e);
    }
  }

  /**
   * Prepares each statement of {@code contract} on the migration's connection, in a savepoint
   * rolled back, executing nothing (see {@link ContractChecker#prepareOnly}). Checks afterwards
   * that the migration's transaction is still the one it was: a contract is read from the
   * database, and nothing in it may end or replace the migration's transaction.
   */
  private static List<Result> check(Connection connection, QueryContract contract)
      throws SQLException {
    if (connection.getAutoCommit()) {
      List<Result> results = new ArrayList<>();
      for (ContractStatement statement : contract.statements()) {
        results.add(ContractChecker.prepareOnly(connection, statement));
      }
      return results;
    }
    long transaction = currentTransaction(connection);
    List<Result> results = ContractChecker.checkInSavepoints(connection, contract);
    if (currentTransaction(connection) != transaction) {
      throw new FlywayException("the contract gate lost the migration's transaction");
    }
    return results;
  }

  private static long currentTransaction(Connection connection) throws SQLException {
    try (var statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT txid_current()")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private void record(Connection connection, @Nullable MigrationInfo migration, String script,
      List<String> broken) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "INSERT INTO keyward_migration_overrides (version, script, reason, broken)"
            + " VALUES (?, ?, ?, ?)")) {
      statement.setString(1, migration == null || migration.getVersion() == null ? ""
          : migration.getVersion().getVersion());
      statement.setString(2, script);
      statement.setString(3, overrideReason);
      statement.setString(4, String.join("\n", broken));
      statement.executeUpdate();
    }
  }

  @Override
  public String getCallbackName() {
    return "keyward-contract-gate";
  }
}
