package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.cache.redis.CorruptionReason;
import io.keyward.cache.redis.EntryEnvelope;
import io.keyward.cache.redis.RedisTestSupport;
import io.keyward.key.KeyHash;
import io.keyward.server.testing.KeywardCluster;
import static io.keyward.testing.Eventually.await;
import io.keyward.verify.Outcome;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Replay of incident I-4 (a second cache layer wrote garbage and readers turned it into 401s):
 * with a warm Redis, every Keyward entry is overwritten with one kind of damage, and another node
 * verifies every key. Zero false denials; each damaged entry counted by reason; entries repaired
 * afterwards (except those of a newer release, which are left for it).
 */
class IncidentI4ReplayTest {
  private static final int KEYS = 40;
  private static KeywardCluster cluster;
  private static final List<String> keys = new ArrayList<>();

  /** One kind of damage, applied to one Redis entry. */
  enum Damage {
    RANDOM_BYTES(CorruptionReason.NOT_ENVELOPE),
    TRUNCATED(CorruptionReason.TRUNCATED),
    BAD_CHECKSUM(CorruptionReason.BAD_CHECKSUM),
    RECORD_OF_ANOTHER_KEY(CorruptionReason.OTHER_KEY),
    OLDER_ENVELOPE_VERSION(CorruptionReason.OLDER_VERSION),
    NEWER_ENVELOPE_VERSION(CorruptionReason.NEWER_VERSION),
    REDIS_HASH_INSTEAD_OF_STRING(CorruptionReason.WRONG_TYPE),
    EMPTY_STRING(CorruptionReason.EMPTY);

    final CorruptionReason reason;

    Damage(CorruptionReason reason) {
      this.reason = reason;
    }
  }

  @BeforeAll
  static void warmTheCache() {
    cluster = KeywardCluster.start(3);
    for (int i = 0; i < KEYS; i++) {
      String key = cluster.node(0).client()
          .createKey(Map.of("name", "k" + i, "ownerId", "i4")).body().get("key").asText();
      keys.add(key);
      assertThat(cluster.node(0).server().verifier().verify(key).outcome()).isEqualTo(Outcome.VALID);
    }
    await(() -> entriesDecodingAs(EntryEnvelope.Decoded.Usable.class) >= KEYS);
  }

  @AfterAll
  static void stop() {
    cluster.close();
  }

  @ParameterizedTest
  @EnumSource(Damage.class)
  void everyKeyStaysValidThroughDamagedEntriesWhichAreCountedAndRepaired(Damage damage) {
    var redis = cluster.redis();
    SplittableRandom random = new SplittableRandom(damage.ordinal());
    List<String> entryKeys = ourEntryKeys();
    assertThat(entryKeys).hasSize(KEYS);
    Map<String, byte[]> good = new java.util.HashMap<>();
    for (String entryKey : entryKeys) {
      good.put(entryKey, redis.raw().get(entryKey));
    }
    Map<String, byte[]> written = new java.util.HashMap<>();
    for (String entryKey : entryKeys) {
      byte[] bad = damaged(damage, entryKey, good, random);
      redis.raw().del(entryKey);
      if (damage == Damage.REDIS_HASH_INSTEAD_OF_STRING) {
        redis.raw().hset(entryKey, "valid", "true".getBytes(StandardCharsets.UTF_8));
      } else {
        redis.raw().set(entryKey, bad);
        written.put(entryKey, bad);
      }
    }
    // A node that meets a newer release's entries leaves them alone for a while, by design; that
    // case gets a reader of its own so that it cannot hold back the repairs of the others.
    var reader = cluster.node(damage == Damage.NEWER_ENVELOPE_VERSION ? 2 : 1);
    double before = corrupt(reader, damage.reason);
    double unansweredBefore = unanswered(reader);
    reader.server().verifier().invalidateAll(); // the reader must go to Redis

    int falseDenials = 0;
    for (String key : keys) {
      if (reader.server().verifier().verify(key).outcome() != Outcome.VALID) {
        falseDenials++;
      }
    }

    assertThat(falseDenials).isZero();
    // Every read met the damage and counted it, except a read Redis did not answer in time (an
    // error or a skip while its breaker is open, on a loaded machine), which the store answered.
    double counted = corrupt(reader, damage.reason) - before;
    assertThat(counted + unanswered(reader) - unansweredBefore).isEqualTo(KEYS);
    assertThat(counted).isPositive();
    if (damage == Damage.NEWER_ENVELOPE_VERSION) {
      for (var entry : written.entrySet()) {
        assertThat(redis.raw().get(entry.getKey())).isEqualTo(entry.getValue());
      }
      restoreCurrentVersion(entryKeys);
    } else {
      await(() -> entriesDecodingAs(EntryEnvelope.Decoded.Usable.class) == KEYS);
    }
  }

  private static byte[] damaged(Damage damage, String entryKey, Map<String, byte[]> goodEntries,
      SplittableRandom random) {
    KeyHash hash = hashOf(entryKey);
    byte[] good = goodEntries.get(entryKey);
    return switch (damage) {
      case RANDOM_BYTES -> {
        byte[] junk = new byte[1 + random.nextInt(300)];
        random.nextBytes(junk);
        junk[0] = '#'; // never the magic by accident
        yield junk;
      }
      case TRUNCATED -> java.util.Arrays.copyOf(good, good.length - 1 - random.nextInt(good.length / 2));
      case BAD_CHECKSUM -> {
        byte[] copy = good.clone();
        copy[60 + random.nextInt(copy.length - 70)] ^= 0x01;
        yield copy;
      }
      case RECORD_OF_ANOTHER_KEY -> goodEntries.entrySet().stream()
          .filter(entry -> !entry.getKey().equals(entryKey)).findFirst().orElseThrow().getValue();
      case OLDER_ENVELOPE_VERSION -> RedisTestSupport.asEnvelopeVersion(good, hash, 0, cluster.signingKey());
      case NEWER_ENVELOPE_VERSION ->
          RedisTestSupport.asEnvelopeVersion(good, hash, EntryEnvelope.ENVELOPE_VERSION + 1,
              cluster.signingKey());
      case REDIS_HASH_INSTEAD_OF_STRING -> null;
      case EMPTY_STRING -> new byte[0];
    };
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"shadow", "canary"})
  void everyDamageWithTheTierInShadowOrCanaryIsAMissNeverADenialNorADisagreement(String stage) {
    cluster.setSwitch("cache.l2", Map.of("stage", stage, "canaryBasisPoints", 10_000,
        "sampleBasisPoints", 10_000, "reason", "I-4 replay in " + stage));
    try {
      var redis = cluster.redis();
      var reader = cluster.node(1);
      for (Damage damage : Damage.values()) {
        List<String> entryKeys = ourEntryKeys();
        Map<String, byte[]> good = new java.util.HashMap<>();
        for (String entryKey : entryKeys) {
          good.put(entryKey, redis.raw().get(entryKey));
        }
        SplittableRandom random = new SplittableRandom(damage.ordinal());
        for (String entryKey : entryKeys) {
          byte[] bad = damaged(damage, entryKey, good, random);
          redis.raw().del(entryKey);
          if (bad == null) {
            redis.raw().hset(entryKey, "valid", "true".getBytes(StandardCharsets.UTF_8));
          } else {
            redis.raw().set(entryKey, bad);
          }
        }
        reader.server().verifier().invalidateAll();

        int falseDenials = 0;
        for (String key : keys) {
          if (reader.server().verifier().verify(key).outcome() != Outcome.VALID) {
            falseDenials++;
          }
        }

        assertThat(falseDenials).as(stage + ", " + damage).isZero();
        restoreCurrentVersion(entryKeys);
      }
      var seen = reader.client().send("GET", "/v1/switches/cache.l2", null).body();
      assertThat(seen.get("stage").asText()).as("damage is a miss: the guard has nothing to"
          + " revert").isEqualTo(stage);
      assertThat(seen.at("/guard/falseDenials").asLong()).isZero();
    } finally {
      cluster.setSwitch("cache.l2", Map.of("stage", "on", "reason", "replay done"));
    }
  }

  /** After the newer-release round, put entries back the way this release writes them. */
  private static void restoreCurrentVersion(List<String> entryKeys) {
    for (String entryKey : entryKeys) {
      cluster.redis().raw().del(entryKey);
    }
    for (String key : keys) {
      cluster.node(0).server().verifier().invalidateLocally(KeyHash.of(key));
      cluster.node(0).server().verifier().verify(key);
    }
    await(() -> entriesDecodingAs(EntryEnvelope.Decoded.Usable.class) == KEYS);
  }

  private static List<String> ourEntryKeys() {
    List<String> ours = new ArrayList<>();
    List<String> hashes = keys.stream().map(k -> KeyHash.of(k).toHex()).toList();
    for (String entryKey : cluster.redis().entryKeys()) {
      if (hashes.contains(entryKey.substring(entryKey.lastIndexOf(':') + 1))) {
        ours.add(entryKey);
      }
    }
    return ours;
  }

  private static long entriesDecodingAs(Class<?> kind) {
    return ourEntryKeys().stream().filter(entryKey -> {
      try {
        return kind.isInstance(EntryEnvelope.decode(cluster.redis().raw().get(entryKey), hashOf(entryKey),
            cluster.signingKey()));
      } catch (RuntimeException wrongType) {
        return false;
      }
    }).count();
  }

  private static KeyHash hashOf(String entryKey) {
    return KeyHash.fromHex(entryKey.substring(entryKey.lastIndexOf(':') + 1));
  }

  /** Redis reads of the node that got no answer: errors (timeouts) and skips. */
  private static double unanswered(KeywardCluster.Node node) {
    String metrics = node.client().sendJson("GET", "/metrics", null, null, false).raw().body();
    return metrics.lines().filter(line -> line.startsWith("keyward_cache_l2_requests_total{")
            && (line.contains("result=\"error\"") || line.contains("result=\"skipped\"")))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  private static double corrupt(KeywardCluster.Node node, CorruptionReason reason) {
    String metrics = node.client().sendJson("GET", "/metrics", null, null, false).raw().body();
    return RedisTestSupport.corruptCount(metrics, reason);
  }



}
