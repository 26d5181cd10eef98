package io.keyward.store.postgres;

import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyStore;
import io.keyward.store.StoreException;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * The key store on PostgreSQL, table {@code api_keys} (see {@code db/migration}).
 *
 * <p>Every SQL statement this class issues is a constant in it: that set is the query contract a
 * schema change must keep working for this release (incident I-3). Failures become {@link
 * StoreException}; "no row" is never one.
 */
public final class PostgresKeyStore implements KeyStore, io.keyward.store.KeyHashScan {
  private static final String COLUMNS =
      "key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin,"
          + " created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version";

  static final String FIND_BY_HASH = "SELECT " + COLUMNS + " FROM api_keys WHERE key_hash = ?";
  static final String FIND_BY_ID = "SELECT " + COLUMNS + " FROM api_keys WHERE key_id = ?";
  static final String FIND_SUCCESSOR =
      "SELECT key_id FROM api_keys WHERE rotated_from = ? ORDER BY key_id LIMIT 1";
  static final String INSERT =
      "INSERT INTO api_keys (key_id, key_hash, key_hint, name, owner_id, scopes, meta, environment,"
          + " origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version)"
          + " VALUES (?, ?, ?, ?, ?, ?, CAST(? AS jsonb), ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  static final String UPDATE =
      "UPDATE api_keys SET name = ?, scopes = ?, meta = CAST(? AS jsonb), updated_at = ?,"
          + " expires_at = ?, revoked_at = ?, enabled = ?, version = ?"
          + " WHERE key_id = ? AND version = ?";
  static final String LIST_ALL = "SELECT " + COLUMNS + " FROM api_keys ORDER BY key_id LIMIT ?";
  static final String LIST_AFTER =
      "SELECT " + COLUMNS + " FROM api_keys WHERE key_id > ? ORDER BY key_id LIMIT ?";
  static final String LIST_OWNER =
      "SELECT " + COLUMNS + " FROM api_keys WHERE owner_id = ? ORDER BY key_id LIMIT ?";
  static final String LIST_OWNER_AFTER =
      "SELECT " + COLUMNS + " FROM api_keys WHERE owner_id = ? AND key_id > ?"
          + " ORDER BY key_id LIMIT ?";
  static final String LOCK_BOOTSTRAP = "SELECT pg_advisory_xact_lock(7271727)";
  static final String ANY_KEY = "SELECT EXISTS (SELECT 1 FROM api_keys)";
  /** Checks that every column this release reads and writes exists and is visible. */
  static final String PREFLIGHT = "SELECT " + COLUMNS + " FROM api_keys WHERE false";
  /** For the foreign filter: how many hashes, then all of them. */
  static final String COUNT_KEYS = "SELECT count(*) FROM api_keys";
  static final String ALL_HASHES = "SELECT key_hash FROM api_keys";
  /** Rows fetched at a time by {@link #forEachHash}. */
  private static final int HASH_FETCH_SIZE = 10_000;

  /**
   * Every statement this release issues (here, in ClusterSecrets and in NodeRegistry): its query
   * contract.
   */
  public static final List<String> QUERY_CONTRACT = java.util.stream.Stream.concat(
      java.util.stream.Stream.of(FIND_BY_HASH, FIND_BY_ID, FIND_SUCCESSOR, INSERT, UPDATE, LIST_ALL,
          LIST_AFTER, LIST_OWNER, LIST_OWNER_AFTER, LOCK_BOOTSTRAP, ANY_KEY, PREFLIGHT,
          COUNT_KEYS, ALL_HASHES,
          ClusterSecrets.CREATE_IF_ABSENT, ClusterSecrets.READ),
      java.util.stream.Stream.of(NodeRegistry.QUERY_CONTRACT, PostgresSwitchStore.QUERY_CONTRACT,
          PostgresUsageStore.QUERY_CONTRACT, UsageOutbox.QUERY_CONTRACT)
          .flatMap(List::stream)).toList();

  private static final String UNIQUE_VIOLATION = "23505";
  private static final String UNDEFINED_TABLE = "42P01";
  private static final String UNDEFINED_COLUMN = "42703";

  private final DataSource dataSource;

  public PostgresKeyStore(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  @Override
  public Optional<KeyRecord> findByHash(KeyHash hash) {
    return findOne(FIND_BY_HASH, hash.toBytes());
  }

  @Override
  public Optional<KeyRecord> findById(String keyId) {
    return findOne(FIND_BY_ID, keyId);
  }

  @Override
  public Optional<String> findSuccessorId(String keyId) {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(FIND_SUCCESSOR)) {
      statement.setString(1, keyId);
      try (ResultSet rs = statement.executeQuery()) {
        return rs.next() ? Optional.of(rs.getString(1)) : Optional.empty();
      }
    } catch (SQLException e) {
      throw translate("look up a successor", e);
    }
  }

  @Override
  public void insert(KeyRecord record) {
    try (Connection connection = dataSource.getConnection()) {
      insert(connection, record);
    } catch (SQLException e) {
      throw translate("insert key", e);
    }
  }

  @Override
  public boolean update(KeyRecord record, long expectedVersion) {
    try (Connection connection = dataSource.getConnection()) {
      return update(connection, record, expectedVersion);
    } catch (SQLException e) {
      throw translate("update key", e);
    }
  }

  @Override
  public boolean replace(KeyRecord predecessor, long expectedVersion, KeyRecord successor) {
    return inTransaction(
        "rotate key",
        connection -> {
          if (!update(connection, predecessor, expectedVersion)) {
            return false;
          }
          insert(connection, successor);
          return true;
        });
  }

  @Override
  public boolean insertIfEmpty(KeyRecord record) {
    return inTransaction(
        "create root key",
        connection -> {
          try (PreparedStatement lock = connection.prepareStatement(LOCK_BOOTSTRAP)) {
            lock.execute();
          }
          try (PreparedStatement any = connection.prepareStatement(ANY_KEY);
              ResultSet rs = any.executeQuery()) {
            rs.next();
            if (rs.getBoolean(1)) {
              return false;
            }
          }
          insert(connection, record);
          return true;
        });
  }

  @Override
  public List<KeyRecord> list(@Nullable String ownerId, @Nullable String afterKeyId, int limit) {
    String sql;
    List<Object> parameters = new ArrayList<>(3);
    if (ownerId != null) {
      parameters.add(ownerId);
    }
    if (afterKeyId != null) {
      parameters.add(afterKeyId);
    }
    parameters.add(limit);
    if (ownerId == null) {
      sql = afterKeyId == null ? LIST_ALL : LIST_AFTER;
    } else {
      sql = afterKeyId == null ? LIST_OWNER : LIST_OWNER_AFTER;
    }
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(sql)) {
      for (int i = 0; i < parameters.size(); i++) {
        statement.setObject(i + 1, parameters.get(i));
      }
      List<KeyRecord> records = new ArrayList<>();
      try (ResultSet rs = statement.executeQuery()) {
        while (rs.next()) {
          records.add(read(rs));
        }
      }
      return records;
    } catch (SQLException e) {
      throw translate("list keys", e);
    }
  }

  @Override
  public long estimatedCount() {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(COUNT_KEYS);
        ResultSet rs = statement.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw translate("count keys", e);
    }
  }

  @Override
  public long forEachHash(java.util.function.Consumer<KeyHash> sink) {
    try (Connection connection = dataSource.getConnection()) {
      // pgjdbc streams a result in fetch-size batches only inside a transaction.
      boolean autoCommit = connection.getAutoCommit();
      connection.setAutoCommit(false);
      long handed = 0;
      try (PreparedStatement statement = connection.prepareStatement(ALL_HASHES)) {
        statement.setFetchSize(HASH_FETCH_SIZE);
        try (ResultSet rs = statement.executeQuery()) {
          while (rs.next()) {
            sink.accept(KeyHash.fromBytes(rs.getBytes(1)));
            handed++;
          }
        }
      } finally {
        connection.rollback(); // a read: nothing to keep, and the pool gets a clean connection
        connection.setAutoCommit(autoCommit);
      }
      return handed;
    } catch (SQLException e) {
      throw translate("read every key hash", e);
    }
  }

  /**
   * Checks, from a connection of this store's own pool, that the table and every column this
   * release uses exist and are visible (incident I-1).
   *
   * @return null if they are, else what is wrong: the schema (a table or column missing) or the
   *     database (unreachable, failing); its detail is for logs, not for unauthenticated callers
   */
  public @Nullable PreflightProblem preflight() {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(PREFLIGHT)) {
      statement.executeQuery().close();
      return null;
    } catch (SQLException e) {
      String state = e.getSQLState();
      boolean schema = UNDEFINED_TABLE.equals(state) || UNDEFINED_COLUMN.equals(state);
      return new PreflightProblem(schema, e.getMessage() + " (SQLState " + state + ")");
    }
  }

  /**
   * What the preflight found wrong.
   *
   * @param schema true when the database answered but a table or column this release needs is
   *     missing or not visible; false when the database could not be used at all
   * @param detail the database's own message, for logs only
   */
  public record PreflightProblem(boolean schema, String detail) {}

  private Optional<KeyRecord> findOne(String sql, Object parameter) {
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(sql)) {
      statement.setObject(1, parameter);
      try (ResultSet rs = statement.executeQuery()) {
        return rs.next() ? Optional.of(read(rs)) : Optional.empty();
      }
    } catch (SQLException e) {
      throw translate("look up key", e);
    }
  }

  private static void insert(Connection connection, KeyRecord r) throws SQLException {
    try (PreparedStatement s = connection.prepareStatement(INSERT)) {
      s.setString(1, r.keyId());
      s.setBytes(2, r.hash().toBytes());
      s.setString(3, r.hint());
      s.setString(4, r.name());
      s.setString(5, r.ownerId());
      s.setArray(6, textArray(connection, r.scopes()));
      s.setString(7, r.metaJson());
      s.setString(8, r.environment().label());
      s.setString(9, r.origin().name().toLowerCase(Locale.ROOT));
      s.setObject(10, utc(r.createdAt()));
      s.setObject(11, utc(r.updatedAt()));
      setInstant(s, 12, r.expiresAt());
      setInstant(s, 13, r.revokedAt());
      s.setBoolean(14, r.enabled());
      s.setString(15, r.rotatedFrom());
      s.setLong(16, r.version());
      s.executeUpdate();
    }
  }

  private static boolean update(Connection connection, KeyRecord r, long expectedVersion)
      throws SQLException {
    try (PreparedStatement s = connection.prepareStatement(UPDATE)) {
      s.setString(1, r.name());
      s.setArray(2, textArray(connection, r.scopes()));
      s.setString(3, r.metaJson());
      s.setObject(4, utc(r.updatedAt()));
      setInstant(s, 5, r.expiresAt());
      setInstant(s, 6, r.revokedAt());
      s.setBoolean(7, r.enabled());
      s.setLong(8, r.version());
      s.setString(9, r.keyId());
      s.setLong(10, expectedVersion);
      return s.executeUpdate() == 1;
    }
  }

  private static KeyRecord read(ResultSet rs) throws SQLException {
    Array scopes = rs.getArray(6);
    String[] scopeValues = scopes == null ? new String[0] : (String[]) scopes.getArray();
    return new KeyRecord(
        rs.getString(1),
        KeyHash.fromBytes(rs.getBytes(2)),
        rs.getString(3),
        rs.getString(4),
        rs.getString(5),
        Set.of(scopeValues),
        rs.getString(7),
        Environment.fromLabel(rs.getString(8))
            .orElseThrow(() -> new SQLException("unknown environment in api_keys row")),
        KeyOrigin.valueOf(rs.getString(9).toUpperCase(Locale.ROOT)),
        instant(rs, 10),
        instant(rs, 11),
        instant(rs, 12),
        instant(rs, 13),
        rs.getBoolean(14),
        rs.getString(15),
        rs.getLong(16));
  }

  private static Array textArray(Connection connection, Set<String> values) throws SQLException {
    return connection.createArrayOf("text", values.stream().sorted().toArray());
  }

  private static @Nullable Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
    return value == null ? null : value.toInstant();
  }

  private static void setInstant(PreparedStatement s, int index, @Nullable Instant value)
      throws SQLException {
    if (value == null) {
      s.setNull(index, Types.TIMESTAMP_WITH_TIMEZONE);
    } else {
      s.setObject(index, utc(value));
    }
  }

  private static OffsetDateTime utc(Instant instant) {
    return instant.atOffset(ZoneOffset.UTC);
  }

  private <T> T inTransaction(String action, Transactions.SqlWork<T> work) {
    try (Connection connection = dataSource.getConnection()) {
      return Transactions.run(connection, work);
    } catch (SQLException e) {
      throw translate(action, e);
    }
  }

  private static RuntimeException translate(String action, SQLException e) {
    if (UNIQUE_VIOLATION.equals(e.getSQLState())) {
      return new DuplicateKeyException("cannot " + action + ": a key with this id or hash exists");
    }
    return new StoreException(
        "cannot " + action + ": " + e.getMessage() + " (SQLState " + e.getSQLState() + ")", e);
  }
}
