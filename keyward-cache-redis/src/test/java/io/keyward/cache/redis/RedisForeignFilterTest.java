package io.keyward.cache.redis;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.key.KeyHash;
import io.keyward.store.KeyHashScan;
import io.keyward.store.StoreException;
import io.keyward.testing.TcpProxy;
import io.keyward.verify.ForeignFilter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The foreign filter on the machine's real Redis, two "nodes" (two filters) over one store. The
 * store is an in-memory set of hashes: what is under test is the proof through Redis.
 */
class RedisForeignFilterTest {
  private final RedisTestSupport redis = RedisTestSupport.open();
  private final Set<KeyHash> stored = ConcurrentHashMap.newKeySet();
  private final AtomicInteger scans = new AtomicInteger();
  private final AtomicInteger failingScans = new AtomicInteger();
  private final Random random = new Random(20261130L);
  private final List<AutoCloseable> closing = new ArrayList<>();

  private final KeyHashScan store = new KeyHashScan() {
    @Override
    public long estimatedCount() {
      return stored.size();
    }

    @Override
    public long forEachHash(Consumer<KeyHash> sink) {
      scans.incrementAndGet();
      if (failingScans.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new StoreException("connection refused (injected)");
      }
      stored.forEach(sink);
      return stored.size();
    }
  };

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable resource : closing.reversed()) {
      resource.close();
    }
    redis.close();
  }

  private RedisForeignFilter node(RedisTierSettings settings, SimpleMeterRegistry registry,
      AtomicBoolean wanted) {
    RedisForeignFilter filter = RedisForeignFilter.start(settings, store, wanted::get,
        RedisForeignFilter.DEFAULT_WINDOW, Clock.systemUTC(), registry);
    closing.add(filter);
    return filter;
  }

  private RedisForeignFilter node(SimpleMeterRegistry registry) {
    return node(redis.settings(), registry, new AtomicBoolean(true));
  }

  private KeyHash randomHash() {
    return new KeyHash(random.nextLong(), random.nextLong(), random.nextLong(), random.nextLong());
  }

  private static double count(SimpleMeterRegistry registry, String name) {
    return registry.get(name).counter().count();
  }

  @Test
  void aNodeWhoseSwitchIsOffNeitherScansTheStoreNorProvesAnything() throws Exception {
    KeyHash kept = randomHash();
    stored.add(kept);
    AtomicBoolean wanted = new AtomicBoolean(false);
    RedisForeignFilter filter = node(redis.settings(), new SimpleMeterRegistry(), wanted);

    Thread.sleep(200); // forty polls' worth
    assertThat(scans).hasValue(0);
    assertThat(filter.trusted()).isFalse();
    assertThat(filter.provesAbsent(randomHash())).isFalse();

    wanted.set(true);
    KeyHash garbage = randomHash();
    await(() -> filter.provesAbsent(garbage));
    assertThat(scans).hasValue(1);
    assertThat(filter.provesAbsent(kept)).isFalse();
  }

  @Test
  void anIssuedKeyIsAnnouncedEvenWhileTheSwitchIsOff() {
    RedisForeignFilter filter = node(redis.settings(), new SimpleMeterRegistry(),
        new AtomicBoolean(false));
    filter.announce(randomHash(), false);
    filter.announce(randomHash(), true);
    assertThat(redis.raw().zcard(redis.importsLogKey())).isEqualTo(2);
    assertThat(redis.raw().hget(redis.importsStateKey(), "gen"))
        .asString(StandardCharsets.US_ASCII).isEqualTo("2");
  }

  @Test
  void aHashAnnouncedOnOneNodeIsNeverProvenAbsentOnAnotherOnceTheAnnouncementReturns() {
    for (int i = 0; i < 1_000; i++) {
      stored.add(randomHash());
    }
    RedisForeignFilter a = node(new SimpleMeterRegistry());
    RedisForeignFilter b = node(new SimpleMeterRegistry());
    await(() -> a.trusted() && b.trusted());

    int provenAbsentBefore = 0;
    for (int i = 0; i < 200; i++) {
      KeyHash imported = randomHash();
      // Before the announcement, the other node proves it absent (it is): the check can fail.
      if (b.provesAbsent(imported)) {
        provenAbsentBefore++;
      }
      a.announce(imported, true);
      stored.add(imported);
      a.stored(imported, true);
      assertThat(b.provesAbsent(imported)).as("node b, import %d, right after it returned", i)
          .isFalse();
      assertThat(a.provesAbsent(imported)).isFalse();
    }
    assertThat(provenAbsentBefore).as("imports node b proved absent before they were announced")
        .isPositive();
    await(b::trusted);
    for (KeyHash hash : stored) {
      assertThat(b.provesAbsent(hash)).isFalse();
    }
  }

  @Test
  void redisLosingTheFiltersStateChangesTheEpochAndEveryNodeReloadsFromTheStore() {
    KeyHash kept = randomHash();
    stored.add(kept);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    RedisForeignFilter filter = node(registry);
    await(filter::trusted);
    assertThat(count(registry, "keyward.foreign.filter.loads")).isEqualTo(1);

    // A Redis restarted without persistence, or these keys evicted: a new epoch starts at 0.
    redis.raw().del(redis.importsStateKey(), redis.importsLogKey());

    KeyHash garbage = randomHash();
    await(() -> count(registry, "keyward.foreign.filter.loads") == 2
        && filter.provesAbsent(garbage));
    assertThat(filter.provesAbsent(kept)).isFalse();
  }

  @Test
  void aGenerationWithoutItsLogEntryIsAGapThatOnlyAReloadFromTheStoreMends() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    RedisForeignFilter filter = node(registry);
    await(filter::trusted);
    KeyHash storedMeanwhile = randomHash();
    stored.add(storedMeanwhile);

    // An announcement whose log entry was lost (trimmed, evicted): the generation moved alone.
    redis.raw().hincrby(redis.importsStateKey(), "gen", 1);

    await(() -> count(registry, "keyward.foreign.filter.loads") == 2 && filter.trusted());
    assertThat(filter.provesAbsent(storedMeanwhile)).isFalse();
  }

  @Test
  void aCorruptLogEntryIsCountedSkippedAndMendedByAReload() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    RedisForeignFilter filter = node(registry);
    await(filter::trusted);
    KeyHash storedMeanwhile = randomHash();
    stored.add(storedMeanwhile);

    // The entry first, then the generation, as an announcement writes them: the other way
    // round, a node polling in between sees a gap (a generation without its entry), reloads,
    // and never reads the corrupt entry (this test raced that way now and then).
    byte[] current = redis.raw().hget(redis.importsStateKey(), "gen");
    long generation = (current == null ? 0
        : Long.parseLong(new String(current, StandardCharsets.US_ASCII))) + 1;
    redis.raw().zadd(redis.importsLogKey(), generation,
        (generation + ":not-a-hash\u0000\u00ff").getBytes(StandardCharsets.ISO_8859_1));
    redis.raw().hincrby(redis.importsStateKey(), "gen", 1);

    await(() -> count(registry, "keyward.foreign.filter.corrupt.entries") >= 1
        && count(registry, "keyward.foreign.filter.loads") >= 2 && filter.trusted());
    assertThat(filter.provesAbsent(storedMeanwhile)).isFalse();
  }

  @Test
  void withRedisUnreachableNothingIsProvenAndAnnouncementsAreRefused() {
    try (TcpProxy proxy = TcpProxy.to(6379)) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      RedisForeignFilter filter = node(
          redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"), registry,
          new AtomicBoolean(true));
      KeyHash garbage = randomHash();
      await(() -> filter.provesAbsent(garbage));

      proxy.stop();

      await(() -> !filter.trusted());
      assertThat(filter.provesAbsent(garbage)).isFalse();
      assertThatThrownBy(() -> filter.announce(randomHash(), true))
          .isInstanceOf(ForeignFilter.UnannouncedException.class)
          .hasMessageContaining("foreign filters");
      assertThat(count(registry, "keyward.foreign.filter.announce.failures")).isEqualTo(1);

      try (TcpProxy back = TcpProxy.on(proxy.port(), 6379)) {
        await(() -> filter.provesAbsent(garbage));
      }
    }
  }

  @Test
  void anIssuedKeyWhoseAnnouncementFailsGoesOnOnlyWhileTheFilterIsNotInUseHere() {
    try (TcpProxy proxy = TcpProxy.to(6379)) {
      AtomicBoolean wanted = new AtomicBoolean(false);
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      RedisForeignFilter filter = node(
          redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"), registry, wanted);
      proxy.stop();
      await(() -> {
        try {
          filter.announce(randomHash(), false); // off here: counted, not thrown
          return count(registry, "keyward.foreign.filter.announce.failures") >= 1;
        } catch (ForeignFilter.UnannouncedException e) {
          return false;
        }
      });
      wanted.set(true);
      assertThatThrownBy(() -> filter.announce(randomHash(), false))
          .isInstanceOf(ForeignFilter.UnannouncedException.class);
      assertThatThrownBy(() -> filter.announce(randomHash(), true))
          .isInstanceOf(ForeignFilter.UnannouncedException.class);
    }
  }

  @Test
  void aKeyStoredAfterRedisLostItsFirstAnnouncementIsKnownOnceItsStoreReturns() {
    SimpleMeterRegistry registryB = new SimpleMeterRegistry();
    RedisForeignFilter a = node(new SimpleMeterRegistry());
    RedisForeignFilter b = node(registryB);
    await(() -> a.trusted() && b.trusted());
    KeyHash imported = randomHash();
    a.announce(imported, true);
    // Redis loses its data before the insert; b reloads from a store that lacks the key.
    redis.raw().del(redis.importsStateKey(), redis.importsLogKey());
    await(() -> count(registryB, "keyward.foreign.filter.loads") == 2
        && b.provesAbsent(imported));
    stored.add(imported);
    a.stored(imported, true);
    assertThat(b.provesAbsent(imported)).as("after the import answered").isFalse();
  }

  @Test
  void aLogThatRepeatsTheStoresHashesDoesNotMakeTheFilterReloadAgainAndAgain() throws Exception {
    // 60,000 keys stored, every one also announced, and one more announcement (an import that
    // then failed): a count of scan plus log would exceed the capacity (2 x 60,000) at once.
    long keys = 60_000;
    List<io.lettuce.core.ScoredValue<byte[]>> chunk = new ArrayList<>();
    for (long g = 1; g <= keys; g++) {
      KeyHash hash = randomHash();
      stored.add(hash);
      chunk.add(io.lettuce.core.ScoredValue.just(g,
          (g + ":" + hash.toHex()).getBytes(StandardCharsets.US_ASCII)));
      if (chunk.size() == 5_000) {
        redis.raw().zadd(redis.importsLogKey(), chunk.toArray(io.lettuce.core.ScoredValue[]::new));
        chunk.clear();
      }
    }
    redis.raw().zadd(redis.importsLogKey(), io.lettuce.core.ScoredValue.just(keys + 1,
        ((keys + 1) + ":" + randomHash().toHex()).getBytes(StandardCharsets.US_ASCII)));
    redis.raw().hset(redis.importsStateKey(), java.util.Map.of("epoch",
        "e1".getBytes(StandardCharsets.US_ASCII), "gen",
        Long.toString(keys + 1).getBytes(StandardCharsets.US_ASCII)));
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    RedisForeignFilter filter = node(registry);
    KeyHash garbage = randomHash();
    await(() -> filter.provesAbsent(garbage));

    Thread.sleep(300); // sixty polls
    assertThat(count(registry, "keyward.foreign.filter.loads")).isEqualTo(1);
    // One scan per load attempt: a first attempt may fail on a busy machine (a page of the
    // 60,001-entry log past the command timeout) and be retried; none after the load.
    assertThat(scans.get()).isEqualTo((int) (count(registry, "keyward.foreign.filter.loads")
        + count(registry, "keyward.foreign.filter.load.failures")));
    assertThat(registry.get("keyward.foreign.filter.hashes").gauge().value())
        .isBetween(keys + 1.0, keys + 2.0);
  }

  @Test
  void aStoreThatCannotBeScannedLeavesTheFilterUntrustedUntilARetrySucceeds() throws Exception {
    KeyHash kept = randomHash();
    stored.add(kept);
    failingScans.set(2);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    RedisForeignFilter filter = node(registry);

    await(() -> count(registry, "keyward.foreign.filter.load.failures") >= 1);
    assertThat(filter.trusted()).isFalse();
    assertThat(filter.provesAbsent(kept)).isFalse();
    assertThat(filter.provesAbsent(randomHash())).isFalse();

    await(filter::trusted);
    assertThat(count(registry, "keyward.foreign.filter.load.failures")).isEqualTo(2);
    assertThat(filter.provesAbsent(kept)).isFalse();
  }

  @Test
  void aTrustWindowShorterThanTwoPollsIsRefusedWithItsValue() {
    assertThatThrownBy(() -> RedisForeignFilter.start(redis.settings(), store, () -> true,
        java.time.Duration.ofMillis(3), Clock.systemUTC(), new SimpleMeterRegistry()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 10 ms, got 3 ms");
  }
}
