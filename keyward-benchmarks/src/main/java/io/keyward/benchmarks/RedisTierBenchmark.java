package io.keyward.benchmarks;

import io.keyward.cache.redis.EntryEnvelope;
import io.keyward.cache.redis.RedisCacheTier;
import io.keyward.testing.TcpProxy;
import io.keyward.cache.redis.SigningKey;
import io.keyward.cache.redis.RedisTierSettings;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyLookup;
import io.keyward.verify.CacheTier;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanIterator;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
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
 * The Redis second cache tier (L2) against a real Redis, beside the bare GET it issues.
 *
 * <ul>
 *   <li>{@link #bareGet}: a plain Lettuce async {@code GET} of an existing entry (~300 bytes),
 *       waited for with {@code .get(timeout)} as the tier does: the floor of an L2 hit.
 *   <li>{@link #l2Hit}: {@link RedisCacheTier#read} of an existing entry, envelope decode included.
 *   <li>{@link #verifyL2Hit}: {@link Verifier#verify} of a valid key that misses L1 (it holds one
 *       entry; {@value #KEYS} keys rotate) and is answered by Redis. The store is an in-memory map
 *       that must not be reached; the teardown prints how often it was.
 *   <li>{@link #breakerOpenMiss}: {@link RedisCacheTier#read} on a tier whose Redis went away (a
 *       proxy in front of it was stopped) after its circuit breaker opened: the cost of skipping L2.
 *       Once a second the breaker lets one probe through, which fails at once (not connected).
 * </ul>
 *
 * Redis: {@code redis://127.0.0.1:6379/0}, or the URL in the system property {@code
 * keyward.bench.redis} of the benchmark JVM or else in the environment variable {@code
 * KEYWARD_BENCH_REDIS}. Every key is under the namespace {@code kwbench-<random>}; the teardown
 * deletes them.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
// Lettuce and Netty take several seconds to settle: with 3 x 1 s of warm-up the first measured
// iterations of verifyL2Hit were still 2x the later ones.
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class RedisTierBenchmark {
  /** Entries are signed as in production (HMAC-SHA256); the key itself does not matter here. */
  private static final SigningKey SIGNING_KEY = SigningKey.of(new byte[SigningKey.LENGTH_BYTES]);

  /** How many keys are stored and rotated through; a power of two. */
  static final int KEYS = KeyCursor.KEYS;

  static final String DEFAULT_REDIS = "redis://127.0.0.1:6379/0";

  /** Metadata that brings an entry (envelope and record) to about 300 bytes. */
  private static final String META =
      "{\"team\":\"benchmarks\",\"plan\":\"pro\",\"region\":\"eu-west-1\",\"tier\":\"gold\","
          + "\"customer\":\"cus_000042\"}";

  private static final RedisCodec<String, byte[]> CODEC =
      RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

  private String namespace;
  private RedisTierSettings tierSettings;
  private RedisClient rawClient;
  private StatefulRedisConnection<String, byte[]> rawConnection;
  private RedisAsyncCommands<String, byte[]> raw;
  private long timeoutNanos;

  private RedisCacheTier tier;
  private RedisCacheTier deadTier;
  private TcpProxy proxy;
  private MeterRegistry deadTierRegistry;
  private Verifier verifier;
  private MeterRegistry verifierRegistry;
  private final LongAdder storeLookups = new LongAdder();
  private long storeLookupsAfterSetup;
  private double setupMisses;

  private String[] keys;
  private KeyHash[] hashes;
  private String[] entryKeys;
  private int entryBytes;


  @Setup(Level.Trial)
  public void setUp() throws Exception {
    String url = System.getProperty("keyward.bench.redis", System.getenv("KEYWARD_BENCH_REDIS"));
    url = url == null || url.isBlank() ? DEFAULT_REDIS : url.strip();
    byte[] suffix = new byte[6];
    new SecureRandom().nextBytes(suffix);
    namespace = "kwbench-" + HexFormat.of().formatHex(suffix);
    tierSettings =
        RedisTierSettings.defaults(url)
            .withNamespace(namespace)
            .withEntryTtl(Fixtures.NEVER_DURING_A_RUN);
    timeoutNanos = tierSettings.commandTimeout().toNanos();

    // The raw connection's own timeout covers its handshake, the setup and the teardown; bareGet
    // waits with the tier's command timeout, as the tier does.
    RedisURI uri = RedisURI.create(url);
    uri.setTimeout(Duration.ofSeconds(10));
    rawClient = RedisClient.create(uri);
    rawConnection = rawClient.connect(CODEC);
    raw = rawConnection.async();
    try {
      fill();
      MeterRegistry tierRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      tier = RedisCacheTier.connect(tierSettings, SIGNING_KEY, Clock.systemUTC(), tierRegistry);
      // A cold JVM can miss the 50 ms command timeout now and then: retry, and fail only on an
      // entry that never reads.
      for (int i = 0; i < KEYS; i++) {
        int attempts = 0;
        while (tier.read(hashes[i]).isEmpty()) {
          if (++attempts == 5) {
            throw new IllegalStateException(
                "the tier does not read the entry written for key " + i + " (errors: "
                    + l2Count(tierRegistry, "error") + ")");
          }
          Thread.sleep(100);
        }
      }
      setupMisses = l2Count(tierRegistry, "error");

      ConcurrentHashMap<KeyHash, KeyRecord> store = new ConcurrentHashMap<>();
      for (String key : keys) {
        KeyRecord record = Fixtures.record(key, META);
        store.put(record.hash(), record);
      }
      KeyLookup lookup =
          hash -> {
            storeLookups.increment();
            return Optional.ofNullable(store.get(hash));
          };
      verifierRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      verifier =
          Verifier.builder(Fixtures.format(), lookup)
              .settings(Fixtures.cachedForTheRun().withMaxEntries(1))
              .secondTier(tier)
              .meterRegistry(verifierRegistry)
              .build();
      KeyCursor check = new KeyCursor();
      for (int i = 0; i < KEYS; i++) {
        Outcome outcome = verifyL2Hit(check).outcome();
        if (outcome != Outcome.VALID) {
          throw new IllegalStateException("expected VALID in setup, got " + outcome);
        }
      }
      // Each store lookup in setup was an L2 read that failed (a timeout in the cold JVM).
      if (storeLookups.sum() > KEYS / 10) {
        throw new IllegalStateException(
            "the store was reached " + storeLookups.sum() + " times in setup; L2 does not answer");
      }
      storeLookupsAfterSetup = storeLookups.sum();

      openBreakerOnDeadRedis(uri);
      System.out.printf(
          "%nRedisTierBenchmark: namespace %s, %d entries of %d bytes%n",
          namespace, KEYS, entryBytes);
    } catch (Exception | Error e) {
      tearDown();
      throw e;
    }
  }

  /** Writes one entry per key as the tier would, and keeps the keys, hashes and Redis keys. */
  private void fill() throws Exception {
    KeyFormat format = Fixtures.format();
    keys = Fixtures.keys(format, KEYS);
    hashes = new KeyHash[KEYS];
    entryKeys = new String[KEYS];
    SetArgs ttl = SetArgs.Builder.px(Fixtures.NEVER_DURING_A_RUN.toMillis());
    List<io.lettuce.core.RedisFuture<String>> writes = new ArrayList<>();
    long now = System.currentTimeMillis();
    for (int i = 0; i < KEYS; i++) {
      KeyRecord record = Fixtures.record(keys[i], META);
      hashes[i] = record.hash();
      // RedisTierSettings.entryKey is package-private; this is its format.
      entryKeys[i] = namespace + ":key:v1:" + record.hash().toHex();
      byte[] envelope = EntryEnvelope.encode(record, now, SIGNING_KEY);
      entryBytes = envelope.length;
      writes.add(raw.set(entryKeys[i], envelope, ttl));
    }
    for (var write : writes) {
      write.get(5, TimeUnit.SECONDS);
    }
  }

  /**
   * Connects a second tier through a proxy, stops the proxy, and reads until that tier's breaker
   * is open (its reads are skipped).
   */
  private void openBreakerOnDeadRedis(RedisURI target) throws InterruptedException {
    proxy = TcpProxy.to(target.getHost(), target.getPort());
    RedisURI viaProxy = RedisURI.create(tierSettings.url());
    viaProxy.setHost("127.0.0.1");
    viaProxy.setPort(proxy.port());
    deadTierRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    deadTier =
        RedisCacheTier.connect(tierSettings.withUrl(viaProxy.toURI().toString()), SIGNING_KEY,
            Clock.systemUTC(), deadTierRegistry);
    int attempts = 0;
    while (deadTier.read(hashes[0]).isEmpty()) {
      if (++attempts == 5) {
        throw new IllegalStateException("the tier behind the proxy does not read an entry");
      }
      Thread.sleep(100);
    }
    proxy.stop();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (l2Count(deadTierRegistry, "skipped") == 0) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the breaker did not open within 10 s of Redis going away");
      }
      deadTier.read(hashes[0]);
      Thread.sleep(1);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (verifierRegistry != null) {
      long during = storeLookups.sum() - storeLookupsAfterSetup;
      System.out.printf(
          "%nRedisTierBenchmark: verifications this trial (1,024 in setup): L1 %.0f hits, %.0f"
              + " misses; L2 %.0f hits; store lookups %d during the run (expected 0), %d in"
              + " setup; failed tier reads in setup's first pass: %.0f%n",
          cacheCount("l1", "hit"), cacheCount("l1", "miss"), cacheCount("l2", "hit"),
          during, storeLookupsAfterSetup, setupMisses);
      if (during != 0) {
        System.err.println("WARNING: " + during + " store lookup(s) during the run: not all L2 hits");
      }
    }
    if (deadTierRegistry != null) {
      System.out.printf(
          "RedisTierBenchmark: tier with Redis gone: %.0f reads skipped by the breaker, %.0f"
              + " failed (probes and the reads that opened it)%n",
          l2Count(deadTierRegistry, "skipped"), l2Count(deadTierRegistry, "error"));
    }
    closeQuietly(deadTier);
    if (proxy != null) {
      proxy.stop();
    }
    closeQuietly(tier);
    if (raw != null) {
      try {
        long deleted = 0;
        ScanIterator<String> scan =
            ScanIterator.scan(rawConnection.sync(), ScanArgs.Builder.matches(namespace + ":*").limit(1000));
        List<String> batch = new ArrayList<>();
        while (scan.hasNext()) {
          batch.add(scan.next());
          if (batch.size() == 500 || !scan.hasNext()) {
            deleted += rawConnection.sync().del(batch.toArray(String[]::new));
            batch.clear();
          }
        }
        System.out.printf("RedisTierBenchmark: deleted %d keys under %s:*%n", deleted, namespace);
      } catch (RuntimeException e) {
        System.err.println("WARNING: could not delete " + namespace + ":* from Redis: " + e);
      }
      rawConnection.close();
    }
    if (rawClient != null) {
      rawClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  /** A plain async GET of an existing entry, waited for with the tier's timeout. */
  @Benchmark
  public byte[] bareGet(KeyCursor cursor)
      throws InterruptedException, ExecutionException, TimeoutException {
    return raw.get(entryKeys[cursor.next()]).get(timeoutNanos, TimeUnit.NANOSECONDS);
  }

  /** The tier's read of an existing entry: GET, envelope checks and record decode. */
  @Benchmark
  public Optional<CacheTier.Entry> l2Hit(KeyCursor cursor) {
    return tier.read(hashes[cursor.next()]);
  }

  /** A valid key that misses L1 and is answered by Redis. */
  @Benchmark
  public Verdict verifyL2Hit(KeyCursor cursor) {
    return verifier.verify(keys[cursor.next()]);
  }

  /** A read on a tier whose Redis is gone and whose breaker is open. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  public Optional<CacheTier.Entry> breakerOpenMiss(KeyCursor cursor) {
    return deadTier.read(hashes[cursor.next()]);
  }

  private double cacheCount(String tierName, String result) {
    Counter counter =
        verifierRegistry.find("keyward.cache.requests").tag("tier", tierName).tag("result", result)
            .counter();
    return counter == null ? Double.NaN : counter.count();
  }

  private static double l2Count(MeterRegistry registry, String result) {
    Counter counter = registry.find("keyward.cache.l2.requests").tag("result", result).counter();
    return counter == null ? 0 : counter.count();
  }

  private static void closeQuietly(AutoCloseable closeable) {
    if (closeable == null) {
      return;
    }
    try {
      closeable.close();
    } catch (Exception e) {
      System.err.println("WARNING: close failed: " + e);
    }
  }
}
