package io.keyward.benchmarks;

import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyLookup;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.keyward.verify.VerifierSettings;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
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
 * In-process verification against a floor measured in the same run.
 *
 * <ul>
 *   <li>{@link #floor}: SHA-256 of the key text and one {@link ConcurrentHashMap} lookup, the least
 *       work any verifier that keeps only hashes must do per call.
 *   <li>{@link #l1Hit}: {@link Verifier#verify} of a valid key whose record is in the in-process
 *       cache; the store is never reached.
 *   <li>{@link #malformedKey}: a key with this deployment's prefix and a bad checksum; rejected by
 *       the parser before any hashing or lookup.
 *   <li>{@link #unknownKeyNotFoundCached}: a well-formed key that no record has; its "not found"
 *       answer is cached.
 * </ul>
 *
 * Each benchmark rotates through {@value #KEYS} keys, so that neither the cache nor the CPU sees a
 * single hot key.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
// The cache-hit paths take about 4 s to reach steady state under C2.
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class VerifyBenchmark {
  /** How many keys each benchmark rotates through; a power of two. */
  static final int KEYS = KeyCursor.KEYS;

  private static final MessageDigest SHA256 = sha256();

  private String[] validKeys;
  private String[] malformedKeys;
  private String[] unknownKeys;

  /** The floor's map: hash to record, as a cache keyed by hash would hold. */
  private ConcurrentHashMap<KeyHash, Object> floorMap;

  private Verifier verifier;
  private final LongAdder storeLookups = new LongAdder();
  private long storeLookupsAfterSetup;


  @Setup(Level.Trial)
  public void setUp() {
    KeyFormat format = Fixtures.format();
    validKeys = Fixtures.keys(format, KEYS);
    unknownKeys = Fixtures.keys(format, KEYS);
    malformedKeys = new String[KEYS];
    for (int i = 0; i < KEYS; i++) {
      malformedKeys[i] = Fixtures.withBadChecksum(format, validKeys[i], i);
    }

    ConcurrentHashMap<KeyHash, KeyRecord> store = new ConcurrentHashMap<>();
    floorMap = new ConcurrentHashMap<>();
    for (String key : validKeys) {
      KeyRecord record = Fixtures.record(key);
      store.put(record.hash(), record);
      floorMap.put(record.hash(), record);
    }
    KeyLookup lookup =
        hash -> {
          storeLookups.increment();
          return Optional.ofNullable(store.get(hash));
        };
    VerifierSettings settings = Fixtures.cachedForTheRun();
    // The server's registry, so the meters recorded on every call cost what they cost there.
    verifier =
        Verifier.builder(format, lookup)
            .settings(settings)
            .meterRegistry(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))
            .build();

    // Warm the cache and check that each benchmark measures the path it is named after.
    for (int i = 0; i < KEYS; i++) {
      expect(Outcome.VALID, validKeys[i]);
      expect(Outcome.NOT_FOUND, unknownKeys[i]);
      expect(Outcome.MALFORMED, malformedKeys[i]);
    }
    storeLookupsAfterSetup = storeLookups.sum();
    if (storeLookupsAfterSetup != 2L * KEYS) {
      throw new IllegalStateException(
          "expected one store lookup per valid and unknown key, saw " + storeLookupsAfterSetup);
    }
    if (floor(new KeyCursor()) == null) {
      throw new IllegalStateException("the floor's map does not hold the keys");
    }
  }

  @TearDown(Level.Trial)
  public void checkNoStoreLookups() {
    long during = storeLookups.sum() - storeLookupsAfterSetup;
    if (during != 0) {
      // Every benchmark here is meant to be answered without the store.
      System.err.println("WARNING: " + during + " store lookup(s) during the run; not all hits");
    }
  }

  /** SHA-256 of the key's ASCII text and a ConcurrentHashMap lookup by the hash. */
  @Benchmark
  public Object floor(KeyCursor cursor) {
    String key = validKeys[cursor.next()];
    byte[] digest = freshSha256().digest(key.getBytes(StandardCharsets.US_ASCII));
    return floorMap.get(KeyHash.fromBytes(digest));
  }

  /** A valid key answered from the in-process cache. */
  @Benchmark
  public Verdict l1Hit(KeyCursor cursor) {
    return verifier.verify(validKeys[cursor.next()]);
  }

  /** A key with the deployment's prefix and a bad checksum. */
  @Benchmark
  public Verdict malformedKey(KeyCursor cursor) {
    return verifier.verify(malformedKeys[cursor.next()]);
  }

  /** A well-formed key no record has, answered from the cached "not found". */
  @Benchmark
  public Verdict unknownKeyNotFoundCached(KeyCursor cursor) {
    return verifier.verify(unknownKeys[cursor.next()]);
  }

  private void expect(Outcome expected, String key) {
    Outcome actual = verifier.verify(key).outcome();
    if (actual != expected) {
      throw new IllegalStateException("expected " + expected + " in setup, got " + actual);
    }
  }

  /** A new digest per call, cloned from a prototype as {@link KeyHash#of} does. */
  private static MessageDigest freshSha256() {
    try {
      return (MessageDigest) SHA256.clone();
    } catch (CloneNotSupportedException e) {
      return sha256();
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
