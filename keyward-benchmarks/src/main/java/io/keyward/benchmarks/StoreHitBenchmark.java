package io.keyward.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyRecord;
import io.keyward.store.postgres.ConnectionPool;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.Migrations;
import io.keyward.store.postgres.PostgresKeyStore;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.keyward.verify.VerifierSettings;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Verification that misses the in-process cache and is answered by PostgreSQL, beside the bare
 * query it issues.
 *
 * <ul>
 *   <li>{@link #storeHit}: {@link Verifier#verify} of a valid key that is not in the in-process
 *       cache. The verifier holds at most one entry and the benchmark rotates through {@value
 *       #KEYS} keys, so practically every call (the teardown prints how many) goes to the store.
 *   <li>{@link #floorSelect}: the store's own {@code SELECT ... WHERE key_hash = ?} through the same
 *       connection pool, with the hash computed beforehand and one column read: the database round
 *       trip without the verifier, the SHA-256 or the decoding of the row.
 * </ul>
 *
 * Runs against a real PostgreSQL: {@code jdbc:postgresql://127.0.0.1:5432/test?user=postgres}, or
 * the URL in the system property {@code keyward.bench.db} of the benchmark JVM or else in the
 * environment variable {@code KEYWARD_BENCH_DB}. A scratch database {@code
 * keyward_bench_<random>} is created beside that one, migrated, filled and dropped at the end.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class StoreHitBenchmark {
  /** How many keys are stored and rotated through. */
  static final int KEYS = 10_000;

  /** The database next to which the scratch database is created. */
  static final String DEFAULT_DATABASE = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";

  /** The store's lookup, should the query contract no longer name it. */
  private static final String FALLBACK_FIND_BY_HASH =
      "SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin,"
          + " created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version"
          + " FROM api_keys WHERE key_hash = ?";

  private static final int POOL_SIZE = 8;

  private DatabaseUrl admin;
  private String databaseName;
  private HikariDataSource pool;
  private Verifier verifier;
  private SimpleMeterRegistry registry;
  private String findByHash;
  private String[] keys;
  private byte[][] hashes;

  /** Which key a thread verifies next; threads start at different places. */
  @State(Scope.Thread)
  public static class Cursor {
    private int index = ThreadLocalRandom.current().nextInt(KEYS);

    int next() {
      if (++index == KEYS) {
        index = 0;
      }
      return index;
    }
  }

  @Setup(Level.Trial)
  public void setUp() throws SQLException {
    String url = System.getProperty("keyward.bench.db", System.getenv("KEYWARD_BENCH_DB"));
    admin = DatabaseUrl.parse(url == null || url.isBlank() ? DEFAULT_DATABASE : url);
    byte[] suffix = new byte[6];
    new SecureRandom().nextBytes(suffix);
    databaseName = "keyward_bench_" + HexFormat.of().formatHex(suffix);
    try (Connection connection = adminConnection();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE DATABASE " + databaseName);
    }
    try {
      DatabaseUrl scratch =
          new DatabaseUrl(withDatabase(admin.jdbcUrl(), databaseName), admin.user(), admin.password());
      Migrations.migrate(scratch);
      pool = ConnectionPool.open(scratch, POOL_SIZE);
      PostgresKeyStore store = new PostgresKeyStore(pool);

      KeyFormat format = Fixtures.format();
      keys = Fixtures.keys(format, KEYS);
      hashes = new byte[KEYS][];
      for (int i = 0; i < KEYS; i++) {
        KeyRecord record = Fixtures.record(keys[i]);
        store.insert(record);
        hashes[i] = record.hash().toBytes();
      }
      try (Connection connection = pool.getConnection();
          Statement statement = connection.createStatement()) {
        statement.execute("VACUUM ANALYZE api_keys");
      }

      registry = new SimpleMeterRegistry();
      verifier =
          Verifier.builder(format, store)
              .settings(VerifierSettings.DEFAULTS.withMaxEntries(1))
              .meterRegistry(registry)
              .build();
      findByHash =
          PostgresKeyStore.QUERY_CONTRACT.stream()
              .filter(sql -> sql.endsWith("WHERE key_hash = ?"))
              .findFirst()
              .orElse(FALLBACK_FIND_BY_HASH);

      Cursor check = new Cursor();
      for (int i = 0; i < 100; i++) {
        Outcome outcome = storeHit(check).outcome();
        if (outcome != Outcome.VALID) {
          throw new IllegalStateException("expected VALID in setup, got " + outcome);
        }
        if (floorSelect(check) == null) {
          throw new IllegalStateException("the bare query found no row in setup");
        }
      }
    } catch (SQLException | RuntimeException e) {
      tearDown();
      throw e;
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws SQLException {
    if (registry != null) {
      double hits = l1Count("hit");
      double misses = l1Count("miss");
      // Counts every verify of this trial, including the 100 of the setup check.
      System.out.printf(
          "%nStoreHitBenchmark: verifications this trial: %.0f in-process cache misses,"
              + " %.0f hits (%.4f%% hits)%n",
          misses, hits, hits + misses == 0 ? 0.0 : 100.0 * hits / (hits + misses));
    }
    if (pool != null) {
      pool.close();
    }
    try (Connection connection = adminConnection();
        Statement statement = connection.createStatement()) {
      statement.execute("DROP DATABASE IF EXISTS " + databaseName + " WITH (FORCE)");
    }
  }

  /** A valid key answered by PostgreSQL after an in-process cache miss. */
  @Benchmark
  public Verdict storeHit(Cursor cursor) {
    return verifier.verify(keys[cursor.next()]);
  }

  /** The store's lookup by hash, straight through the pool, reading the key id. */
  @Benchmark
  public String floorSelect(Cursor cursor) throws SQLException {
    byte[] hash = hashes[cursor.next()];
    try (Connection connection = pool.getConnection();
        PreparedStatement statement = connection.prepareStatement(findByHash)) {
      statement.setBytes(1, hash);
      try (ResultSet rs = statement.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private Connection adminConnection() throws SQLException {
    return admin.user() == null
        ? DriverManager.getConnection(admin.jdbcUrl())
        : DriverManager.getConnection(admin.jdbcUrl(), admin.user(), admin.password());
  }

  private double l1Count(String result) {
    Counter counter =
        registry.find("keyward.cache.requests").tag("tier", "l1").tag("result", result).counter();
    return counter == null ? Double.NaN : counter.count();
  }

  /** {@code jdbcUrl} naming database {@code name} instead of its own. */
  static String withDatabase(String jdbcUrl, String name) {
    int hostStart = jdbcUrl.indexOf("//");
    if (hostStart < 0) {
      throw new IllegalArgumentException("expected jdbc:postgresql://host/database, got a URL without //");
    }
    hostStart += 2;
    int query = jdbcUrl.indexOf('?', hostStart);
    int end = query < 0 ? jdbcUrl.length() : query;
    int slash = jdbcUrl.indexOf('/', hostStart);
    if (slash < 0 || slash > end) {
      return jdbcUrl.substring(0, end) + "/" + name + jdbcUrl.substring(end);
    }
    return jdbcUrl.substring(0, slash + 1) + name + jdbcUrl.substring(end);
  }
}
