package io.keyward.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.testing.TcpProxy;
import static io.keyward.testing.Eventually.await;
import io.keyward.verify.CacheTier;
import io.keyward.verify.RemoteInvalidations;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Redis tier against the machine's real Redis, with faults injected for real. */
class RedisCacheTierTest {
  private RedisTestSupport redis;
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeEach
  void open() {
    redis = RedisTestSupport.open();
  }

  @AfterEach
  void close() {
    redis.close();
  }

  private RedisCacheTier tier(RedisTierSettings settings) {
    return RedisCacheTier.connect(settings, RedisTestSupport.SIGNING_KEY, Clock.systemUTC(), registry);
  }

  private static KeyRecord record(String key) {
    return EntryEnvelopeTest.record(KeyHash.of(key));
  }

  private double corrupt(CorruptionReason reason) {
    return registry.get("keyward.cache.l2.corrupt").tag("reason", reason.tag()).counter().count();
  }

  private double errors() {
    return registry.get("keyward.cache.l2.requests").tag("result", "error").counter().count();
  }

  private void awaitWrites(int count) {
    await(() -> redis.entryKeys().size() >= count);
  }

  @Test
  void writtenEntryIsReadBackWithItsLoadTimeAndATtl() {
    try (RedisCacheTier tier = tier(redis.settings())) {
      KeyRecord record = record("k1");
      long loadedAt = System.currentTimeMillis() - 5;

      tier.write(record, loadedAt);
      awaitWrites(1);

      assertThat(tier.read(record.hash())).contains(new CacheTier.Entry(record, loadedAt));
      long ttl = redis.raw().pttl(redis.entryKeys().get(0));
      assertThat(ttl).isBetween(1L, 30_000L);
    }
  }

  @Test
  void everyKindOfDamageIsAMissCountedByReason() {
    try (RedisCacheTier tier = tier(redis.settings())) {
      KeyRecord record = record("k2");
      KeyRecord other = record("k3");
      String key = redis.settings().entryKey(record.hash().toHex());
      byte[] good = EntryEnvelope.encode(record, System.currentTimeMillis(), RedisTestSupport.SIGNING_KEY);
      List<byte[]> damage = List.of(
          "garbage".getBytes(StandardCharsets.UTF_8),
          java.util.Arrays.copyOf(good, good.length / 2),
          flip(good, 70),
          EntryEnvelope.encode(other, System.currentTimeMillis(), RedisTestSupport.SIGNING_KEY),
          EntryEnvelope.encode(record, System.currentTimeMillis(), 0, 1, RedisTestSupport.SIGNING_KEY),
          new byte[0]);
      for (byte[] bytes : damage) {
        redis.raw().set(key, bytes);
        assertThat(tier.read(record.hash())).isEmpty();
      }
      redis.raw().del(key);
      redis.raw().hset(key, "valid", "true".getBytes(StandardCharsets.UTF_8));
      assertThat(tier.read(record.hash())).isEmpty();

      assertThat(corrupt(CorruptionReason.NOT_ENVELOPE)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.TRUNCATED)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.BAD_CHECKSUM)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.OTHER_KEY)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.OLDER_VERSION)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.EMPTY)).isEqualTo(1);
      assertThat(corrupt(CorruptionReason.WRONG_TYPE)).isEqualTo(1);

      // The verifier's store load then overwrites whatever is there, even a hash.
      tier.write(record, System.currentTimeMillis());
      await(() -> tier.read(record.hash()).isPresent());
    }
  }

  @Test
  void entryOfANewerReleaseIsAMissAndIsLeftAlone() throws Exception {
    try (RedisCacheTier tier = tier(redis.settings())) {
      KeyRecord record = record("k4");
      String key = redis.settings().entryKey(record.hash().toHex());
      byte[] newer = EntryEnvelope.encode(record, System.currentTimeMillis(), 2, 1, RedisTestSupport.SIGNING_KEY);
      redis.raw().set(key, newer);

      assertThat(tier.read(record.hash())).isEmpty();
      tier.write(record, System.currentTimeMillis());
      Thread.sleep(200);

      assertThat(redis.raw().get(key)).isEqualTo(newer);
      assertThat(corrupt(CorruptionReason.NEWER_VERSION)).isEqualTo(1);
    }
  }

  @Test
  void unreachableRedisIsAMissThatOpensTheBreakerAndCostsNothingWhileOpen() {
    try (TcpProxy proxy = TcpProxy.to(6379);
        RedisCacheTier tier = tier(redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"))) {
      KeyRecord record = record("k5");
      tier.write(record, System.currentTimeMillis());
      await(() -> tier.read(record.hash()).isPresent());

      proxy.stop();
      for (int i = 0; i < 10; i++) {
        assertThat(tier.read(record.hash())).isEmpty();
      }

      assertThat(registry.get("keyward.cache.l2.breaker.open").gauge().value()).isEqualTo(1);
      double errorsWhenOpened = errors();
      for (int i = 0; i < 1_000; i++) {
        tier.read(record.hash());
      }
      // While open nothing is sent, so nothing can time out: each read is skipped at once.
      assertThat(errors()).isEqualTo(errorsWhenOpened);
      assertThat(registry.get("keyward.cache.l2.requests").tag("result", "skipped").counter().count())
          .isGreaterThanOrEqualTo(1_000);
    }
  }

  @Test
  void breakerKeepsSkippingCheaplyWhileRedisStaysUnreachable() {
    try (TcpProxy proxy = TcpProxy.to(6379);
        RedisCacheTier cut = tier(redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"));
        RedisCacheTier other = tier(redis.settings())) {
      KeyRecord record = record("k8");
      proxy.stop();
      for (int i = 0; i < 10; i++) {
        cut.read(record.hash());
        cut.write(record, System.currentTimeMillis());
      }
      assertThat(registry.get("keyward.cache.l2.breaker.open").gauge().value()).isEqualTo(1);
      other.invalidate(record.hash()); // heard by nobody on the cut tier; must not wedge it

      // Redis cannot come back through a stopped proxy, so the probes keep failing and the
      // breaker keeps re-opening rather than sticking half-open: reads stay skipped, cheaply.
      double skippedBefore = registry.get("keyward.cache.l2.requests").tag("result", "skipped")
          .counter().count();
      cut.read(record.hash());
      assertThat(registry.get("keyward.cache.l2.requests").tag("result", "skipped").counter().count())
          .isGreaterThan(skippedBefore);
    }
  }

  @Test
  void pausedRedisCostsAtMostTheCommandTimeoutPerRead() {
    try (RedisCacheTier tier = tier(redis.settings().withCommandTimeout(Duration.ofMillis(50)))) {
      KeyRecord record = record("k6");
      redis.raw().clientPause(1_500); // Redis answers nobody for 1.5 s, then resumes by itself
      Optional<CacheTier.Entry> read = tier.read(record.hash());

      // Had the read waited for the pause to end it would be a plain miss; it gave up instead.
      assertThat(read).isEmpty();
      assertThat(errors()).isEqualTo(1);
      assertThat(registry.get("keyward.cache.l2.requests").tag("result", "miss").counter().count())
          .isZero();
    }
  }

  @Test
  void invalidationDeletesTheEntryAndReachesEveryTier() {
    List<KeyHash> heardByB = new CopyOnWriteArrayList<>();
    try (RedisCacheTier a = tier(redis.settings()); RedisCacheTier b = tier(redis.settings())) {
      b.listen(listener(heardByB));
      KeyRecord record = record("k7");
      a.write(record, System.currentTimeMillis());
      awaitWrites(1);

      a.invalidate(record.hash());

      assertThat(redis.entryKeys()).isEmpty();
      await(() -> heardByB.contains(record.hash()));
    }
  }

  @Test
  void droppedConnectionReportsTheChannelLost() {
    List<String> events = new CopyOnWriteArrayList<>();
    try (TcpProxy proxy = TcpProxy.to(6379);
        RedisCacheTier tier = tier(redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"))) {
      tier.listen(recorder(events));

      proxy.stop();

      await(() -> events.contains("lost"));
      assertThat(tier.isSubscribed()).isFalse();
    }
  }

  @Test
  void silentChannelWithLiveConnectionsIsReportedLostAndThenRestored() {
    List<String> events = new CopyOnWriteArrayList<>();
    RedisTierSettings s = redis.settings();
    RedisTierSettings quick = new RedisTierSettings(s.url(), s.commandTimeout(), s.connectTimeout(),
        s.entryTtl(), s.namespace(), s.breakerThreshold(), s.breakerOpenFor(), s.maxPendingWrites(),
        Duration.ofMillis(100), Duration.ofMillis(500));
    try (RedisCacheTier tier = tier(quick)) {
      tier.listen(recorder(events));

      // Redis stops running writes (PUBLISH included) for 2 s; every connection stays open, so
      // only the missing heartbeats can tell that invalidations would not arrive.
      var codec = io.lettuce.core.codec.RedisCodec.of(io.lettuce.core.codec.StringCodec.UTF8,
          io.lettuce.core.codec.ByteArrayCodec.INSTANCE);
      redis.raw().dispatch(io.lettuce.core.protocol.CommandType.CLIENT,
          new io.lettuce.core.output.StatusOutput<>(codec),
          new io.lettuce.core.protocol.CommandArgs<>(codec).add("PAUSE").add(2_000).add("WRITE"));

      await(() -> events.contains("lost"));
      await(() -> events.contains("restored"));
      assertThat(events).containsExactly("lost", "restored");
      assertThat(tier.isSubscribed()).isTrue();
    }
  }

  private static RemoteInvalidations recorder(List<String> events) {
    return new RemoteInvalidations() {
      @Override public void invalidated(KeyHash hash) {}
      @Override public void channelLost() { events.add("lost"); }
      @Override public void channelRestored() { events.add("restored"); }
    };
  }

  private static RemoteInvalidations listener(List<KeyHash> heard) {
    return new RemoteInvalidations() {
      @Override public void invalidated(KeyHash hash) { heard.add(hash); }
      @Override public void channelLost() {}
      @Override public void channelRestored() {}
    };
  }

  private static byte[] flip(byte[] bytes, int at) {
    byte[] copy = bytes.clone();
    copy[at] ^= 0x10;
    return copy;
  }

  @Test
  void aSignalAnnouncedByOneNodeReachesTheOthersAndIsNotTakenForAnInvalidation() {
    List<String> signals = new CopyOnWriteArrayList<>();
    List<KeyHash> invalidated = new CopyOnWriteArrayList<>();
    try (RedisCacheTier a = tier(redis.settings()); RedisCacheTier b = tier(redis.settings())) {
      b.onSignal(signals::add);
      b.listen(new RemoteInvalidations() {
        @Override
        public void invalidated(KeyHash hash) {
          invalidated.add(hash);
        }

        @Override
        public void channelLost() {}

        @Override
        public void channelRestored() {}
      });

      a.announce("sw:42");

      await(() -> signals.contains("sw:42"));
      assertThat(invalidated).isEmpty();
      // a node of an earlier release sees "hb:sig:sw:42", which it ignores as a heartbeat
      assertThat(redis.entryKeys()).isEmpty();
    }
    try (RedisCacheTier a = tier(redis.settings())) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> a.announce("sw 42\n"))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("signal");
    }
  }
}
