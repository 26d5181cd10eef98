package io.keyward.store.postgres;

import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.store.StoreException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Rollout switches in PostgreSQL (V6): each switch's stage with a version from one sequence, an
 * audit trail of every change (who, when, why, the stage before, and for an automatic revert its
 * evidence), and the version each node has applied. Reads and writes go through a {@link
 * SchemaGate}: before V6 is visible, there are no switches and every path is its control.
 */
public final class PostgresSwitchStore {
  static final String PROBE = "SELECT name, stage, canary_basis_points, sample_basis_points,"
      + " version, salt, guard, updated_at, updated_by FROM keyward_switches WHERE false";
  static final String VERSION = "SELECT coalesce(max(version), 0) FROM keyward_switches";
  static final String READ = "SELECT name, stage, canary_basis_points, sample_basis_points,"
      + " version, salt, (guard->>'minimumSample')::int, (guard->>'maxErrorRate')::float8,"
      + " (guard->>'maxTimeoutRate')::float8, (guard->>'candidateTimeoutMillis')::bigint"
      + " FROM keyward_switches";
  /** One change of any switch at a time: versions then commit in the order they are drawn. */
  static final String SERIALIZE = "SELECT pg_advisory_xact_lock(CAST(? AS bigint))";
  static final String LOCK = "SELECT stage, salt, version, canary_basis_points,"
      + " sample_basis_points, (guard->>'minimumSample')::int, (guard->>'maxErrorRate')::float8,"
      + " (guard->>'maxTimeoutRate')::float8, (guard->>'candidateTimeoutMillis')::bigint"
      + " FROM keyward_switches WHERE name = ? FOR UPDATE";
  static final String NEXT_VERSION = "SELECT nextval('keyward_switch_versions')";
  static final String UPSERT = "INSERT INTO keyward_switches (name, stage, canary_basis_points,"
      + " sample_basis_points, version, salt, guard, updated_at, updated_by)"
      + " VALUES (?, ?, ?, ?, ?, ?, CAST(? AS jsonb), now(), ?) ON CONFLICT (name) DO UPDATE SET"
      + " stage = excluded.stage, canary_basis_points = excluded.canary_basis_points,"
      + " sample_basis_points = excluded.sample_basis_points, version = excluded.version,"
      + " guard = excluded.guard, updated_at = excluded.updated_at,"
      + " updated_by = excluded.updated_by";
  static final String RECORD = "INSERT INTO keyward_switch_history (name, version, stage,"
      + " previous_stage, canary_basis_points, actor, reason, evidence, changed_at)"
      + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())";
  static final String HISTORY = "SELECT version, name, stage, previous_stage,"
      + " canary_basis_points, actor, reason, evidence, changed_at FROM keyward_switch_history"
      + " WHERE name = ? ORDER BY id DESC LIMIT ?";
  static final String REPORT = "INSERT INTO keyward_node_switches (node_id, applied_version,"
      + " applied_at) VALUES (?, ?, now()) ON CONFLICT (node_id) DO UPDATE SET"
      + " applied_version = excluded.applied_version, applied_at = excluded.applied_at";
  static final String APPLIED = "SELECT node_id, applied_version FROM keyward_node_switches";

  /** Every statement the store issues: part of the query contract. */
  public static final List<String> QUERY_CONTRACT = List.of(PROBE, VERSION, READ, SERIALIZE,
      LOCK, NEXT_VERSION, UPSERT, RECORD, HISTORY, REPORT, APPLIED);

  /** The advisory lock key of switch changes ("kwswitch" in ASCII). */
  private static final long CHANGE_LOCK = 0x6b77737769746368L;
  /** Verifications sampled in shadow when a switch is first stored without a share (10%). */
  public static final int DEFAULT_SAMPLE_BASIS_POINTS = 1000;

  /**
   * A change to a switch, by whom and why (and, for the guard's revert, on what evidence). The
   * shares and rules left null keep what is stored (the defaults for a switch never stored), read
   * in the change's own transaction: a node that lags cannot undo settings it has not seen.
   *
   * @param rules how the stored rules change (the identity to keep them)
   */
  public record Change(String name, Stage stage, @Nullable Integer canaryBasisPoints,
      @Nullable Integer sampleBasisPoints, java.util.function.UnaryOperator<GuardRules> rules,
      String actor, String reason, @Nullable String evidence) {}

  /** One entry of a switch's audit trail. */
  public record HistoryEntry(long version, String name, Stage stage, @Nullable Stage previous,
      int canaryBasisPoints, String actor, String reason, @Nullable String evidence,
      Instant changedAt) {}

  /** Every stored switch and the highest version among them. */
  public record Snapshot(List<SwitchState> states, long version) {}

  private final DataSource pool;
  private final SchemaGate gate;
  private final SecureRandom random = new SecureRandom();

  public PostgresSwitchStore(DataSource pool, Clock clock,
      io.micrometer.core.instrument.MeterRegistry registry) {
    this.pool = pool;
    this.gate = new SchemaGate("switches", PROBE, pool, clock, Duration.ofSeconds(5), registry);
    gate.checkNow();
  }

  /** The gate the store goes through (for readiness and metrics). */
  public SchemaGate gate() {
    return gate;
  }

  /**
   * The highest version stored (0 with none), or empty while the tables are not visible.
   *
   * @throws StoreException if the database fails
   */
  public Optional<Long> version() {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(VERSION);
          ResultSet rs = statement.executeQuery()) {
        rs.next();
        return Optional.of(rs.getLong(1));
      }
    }, Optional::empty);
  }

  /**
   * Every stored switch, or empty while the tables are not visible.
   *
   * @throws StoreException if the database fails
   */
  public Optional<Snapshot> read() {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(READ);
          ResultSet rs = statement.executeQuery()) {
        List<SwitchState> states = new ArrayList<>();
        long version = 0;
        while (rs.next()) {
          SwitchState state = new SwitchState(rs.getString(1), stage(rs.getString(2)),
              rs.getInt(3), rs.getInt(4), rs.getLong(5), rs.getLong(6),
              new GuardRules(rs.getInt(7), rs.getDouble(8), rs.getDouble(9), rs.getLong(10)));
          states.add(state);
          version = Math.max(version, state.version());
        }
        return Optional.of(new Snapshot(List.copyOf(states), version));
      }
    }, Optional::empty);
  }

  /**
   * Applies a change and records it, in one transaction; the new version comes from the
   * deployment's sequence. The salt is drawn once, when the switch is first stored.
   *
   * @throws StoreException if the database fails or the tables are not visible yet
   */
  public SwitchState set(Change change) {
    return change(change, null).orElseThrow();
  }

  /**
   * The guard's revert: sets the switch {@code off} with its evidence, but only if it is still at
   * {@code version} (a newer change by a person is not undone by an older verdict).
   *
   * @return the new state, or empty when the switch had moved on
   */
  public Optional<SwitchState> revert(SwitchState tripped, String evidence) {
    return change(new Change(tripped.name(), Stage.OFF, null, null, rules -> rules, "guard",
        "automatic revert", evidence), tripped.version());
  }

  private Optional<SwitchState> change(Change change, @Nullable Long onlyAtVersion) {
    Optional<Optional<SwitchState>> done = gate.call(() -> {
      try (Connection connection = pool.getConnection()) {
        connection.setAutoCommit(false);
        try {
          try (PreparedStatement serialize = connection.prepareStatement(SERIALIZE)) {
            serialize.setLong(1, CHANGE_LOCK);
            serialize.execute();
          }
          Stage previous = null;
          long salt = random.nextLong();
          int canary = 0;
          int sample = DEFAULT_SAMPLE_BASIS_POINTS;
          GuardRules stored = GuardRules.DEFAULTS;
          try (PreparedStatement lock = connection.prepareStatement(LOCK)) {
            lock.setString(1, change.name());
            try (ResultSet rs = lock.executeQuery()) {
              if (rs.next()) {
                previous = stage(rs.getString(1));
                salt = rs.getLong(2);
                if (onlyAtVersion != null && rs.getLong(3) != onlyAtVersion) {
                  connection.rollback();
                  return Optional.<Optional<SwitchState>>of(Optional.empty());
                }
                canary = rs.getInt(4);
                sample = rs.getInt(5);
                stored = new GuardRules(rs.getInt(6), rs.getDouble(7), rs.getDouble(8),
                    rs.getLong(9));
              } else if (onlyAtVersion != null) {
                connection.rollback();
                return Optional.<Optional<SwitchState>>of(Optional.empty());
              }
            }
          }
          canary = change.canaryBasisPoints() != null ? change.canaryBasisPoints() : canary;
          sample = change.sampleBasisPoints() != null ? change.sampleBasisPoints() : sample;
          GuardRules rules = change.rules().apply(stored);
          long version;
          try (PreparedStatement next = connection.prepareStatement(NEXT_VERSION);
              ResultSet rs = next.executeQuery()) {
            rs.next();
            version = rs.getLong(1);
          }
          try (PreparedStatement upsert = connection.prepareStatement(UPSERT)) {
            upsert.setString(1, change.name());
            upsert.setString(2, change.stage().label());
            upsert.setInt(3, canary);
            upsert.setInt(4, sample);
            upsert.setLong(5, version);
            upsert.setLong(6, salt);
            upsert.setString(7, guardJson(rules));
            upsert.setString(8, change.actor());
            upsert.executeUpdate();
          }
          try (PreparedStatement record = connection.prepareStatement(RECORD)) {
            record.setString(1, change.name());
            record.setLong(2, version);
            record.setString(3, change.stage().label());
            record.setString(4, previous == null ? null : previous.label());
            record.setInt(5, canary);
            record.setString(6, change.actor());
            record.setString(7, change.reason());
            record.setString(8, change.evidence());
            record.executeUpdate();
          }
          connection.commit();
          return Optional.of(Optional.of(new SwitchState(change.name(), change.stage(), canary,
              sample, version, salt, rules)));
        } catch (SQLException | RuntimeException e) {
          connection.rollback();
          throw e;
        } finally {
          connection.setAutoCommit(true);
        }
      }
    }, Optional::empty);
    return done.orElseThrow(() -> new StoreException("the switches' tables are not visible"
        + " yet (schema gate closed: " + gate.closedBecause() + ")"));
  }

  /**
   * The last {@code limit} changes of {@code name}, newest first; empty while the tables are not
   * visible.
   */
  public List<HistoryEntry> history(String name, int limit) {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(HISTORY)) {
        statement.setString(1, name);
        statement.setInt(2, limit);
        List<HistoryEntry> entries = new ArrayList<>();
        try (ResultSet rs = statement.executeQuery()) {
          while (rs.next()) {
            String previous = rs.getString(4);
            entries.add(new HistoryEntry(rs.getLong(1), rs.getString(2), stage(rs.getString(3)),
                previous == null ? null : stage(previous), rs.getInt(5), rs.getString(6),
                rs.getString(7), rs.getString(8),
                rs.getObject(9, OffsetDateTime.class).toInstant()));
          }
        }
        return entries;
      }
    }, List::of);
  }

  /** Records that {@code nodeId} has applied every change up to {@code version}. */
  public void reportApplied(String nodeId, long version) {
    gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(REPORT)) {
        statement.setString(1, nodeId);
        statement.setLong(2, version);
        return statement.executeUpdate();
      }
    }, () -> 0);
  }

  /** The version each node has reported applying, by node id. */
  public Map<String, Long> appliedVersions() {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(APPLIED);
          ResultSet rs = statement.executeQuery()) {
        Map<String, Long> applied = new HashMap<>();
        while (rs.next()) {
          applied.put(rs.getString(1), rs.getLong(2));
        }
        return applied;
      }
    }, Map::of);
  }

  private static Stage stage(String label) {
    Stage stage = Stage.parse(label);
    if (stage == null) {
      throw new IllegalStateException("keyward_switches holds an unknown stage: " + label);
    }
    return stage;
  }

  private static String guardJson(GuardRules rules) {
    return String.format(Locale.ROOT, "{\"minimumSample\": %d, \"maxErrorRate\": %s,"
        + " \"maxTimeoutRate\": %s, \"candidateTimeoutMillis\": %d}", rules.minimumSample(),
        Double.toString(rules.maxErrorRate()), Double.toString(rules.maxTimeoutRate()),
        rules.candidateTimeoutMillis());
  }
}
