package io.keyward.cache.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanIterator;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The machine's real Redis (127.0.0.1:6379, or {@code KEYWARD_TEST_REDIS_URL}) for one test
 * class: a namespace of its own, a raw connection to damage entries with, and cleanup.
 */
public final class RedisTestSupport implements AutoCloseable {
  /** The Redis tests use. */
  public static final String URL =
      System.getenv().getOrDefault("KEYWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0");

  /** The signing key of the tests' tiers (a deployment's comes from ClusterSecrets). */
  public static final SigningKey SIGNING_KEY = SigningKey.of(
      "keyward-test-signing-key-32bytes".getBytes(java.nio.charset.StandardCharsets.US_ASCII));

  private final String namespace;
  private final RedisClient client;
  private final StatefulRedisConnection<String, byte[]> connection;

  private RedisTestSupport() {
    this.namespace = "kwtest-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    this.client = RedisClient.create(URL);
    this.connection = client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
  }

  public static RedisTestSupport open() {
    return new RedisTestSupport();
  }

  public String namespace() {
    return namespace;
  }

  /** Tier settings on this namespace, with the given URL (a proxy's, say). */
  public RedisTierSettings settings(String url) {
    return RedisTierSettings.defaults(url).withNamespace(namespace);
  }

  /** Tier settings on this namespace, straight to Redis. */
  public RedisTierSettings settings() {
    return settings(URL);
  }

  /** Raw commands, for writing damage and reading what is there. */
  public RedisCommands<String, byte[]> raw() {
    return connection.sync();
  }

  /** Every entry key of this namespace. */
  public List<String> entryKeys() {
    List<String> keys = new ArrayList<>();
    ScanIterator.scan(raw(), ScanArgs.Builder.matches(namespace + ":key:*").limit(500))
        .forEachRemaining(keys::add);
    return keys;
  }

  /** The foreign filter's state (epoch and generation) in this namespace. */
  public String importsStateKey() {
    return "{" + namespace + ":imports}:state";
  }

  /** The foreign filter's announcement log in this namespace. */
  public String importsLogKey() {
    return "{" + namespace + ":imports}:log";
  }

  /** The same record re-encoded as another release would write it (envelope version {@code v}). */
  public static byte[] asEnvelopeVersion(byte[] value, io.keyward.key.KeyHash hash, int version,
      SigningKey key) {
    var decoded = (EntryEnvelope.Decoded.Usable) EntryEnvelope.decode(value, hash, key);
    return EntryEnvelope.encode(decoded.record(), decoded.writtenAtMillis(), version,
        EntryEnvelope.RECORD_VERSION, key);
  }

  /** How many times a reason was counted, read from a Prometheus scrape. */
  public static double corruptCount(String metrics, CorruptionReason reason) {
    String prefix = "keyward_cache_l2_corrupt_total{reason=\"" + reason.tag() + "\"}";
    return metrics.lines().filter(line -> line.startsWith(prefix))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  @Override
  public void close() {
    try {
      for (String key : entryKeys()) {
        raw().del(key);
      }
      raw().del(importsStateKey(), importsLogKey());
      connection.close();
    } finally {
      client.shutdown();
    }
  }
}
