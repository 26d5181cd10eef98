package io.keyward.verify;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.MutableClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The verifier's cache rules, faults and seams, over an in-memory store we can break. */
class VerifierCachingTest {
  private final MutableClock clock = MutableClock.startingAt2030();
  private final KeyFormat format = KeyFormat.withPrefix("kw");
  private final InMemoryKeyStore store = new InMemoryKeyStore();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final VerifierSettings settings = VerifierSettings.DEFAULTS
      .withFreshFor(Duration.ofSeconds(30))
      .withStaleFor(Duration.ofMinutes(10))
      .withNotFoundFor(Duration.ofSeconds(5));
  private final io.keyward.key.KeyIds ids =
      new io.keyward.key.KeyIds(clock, new java.security.SecureRandom());
  private Verifier verifier;

  @BeforeEach
  void build() {
    verifier = verifierWith(CacheTier.NONE, UsageSink.NONE);
  }

  private Verifier verifierWith(CacheTier tier, UsageSink sink) {
    return Verifier.builder(format, store).clock(clock).settings(settings)
        .meterRegistry(registry).secondTier(tier).usageSink(sink).build();
  }

  private String storeKey() {
    String key = format.generate(Environment.LIVE);
    store.insert(record(key, ids.next()));
    return key;
  }

  private KeyRecord record(String key, String keyId) {
    Instant now = clock.instant();
    return new KeyRecord(keyId, KeyHash.of(key), null, "n", "o", Set.of("read"), "{}",
        Environment.LIVE, KeyOrigin.ISSUED, now, now, null, null, true, null, 1);
  }

  private double staleServes() {
    return registry.get("keyward.cache.stale.serves").counters().stream()
        .mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
  }

  private double counter(String name, String... tags) {
    return registry.get(name).tags(tags).counter().count();
  }

  @Test
  void cachedKeyIsAnsweredWithoutTheStoreWhileFresh() {
    String key = storeKey();
    verifier.verify(key);
    clock.advance(Duration.ofSeconds(29));

    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.VALID);
    assertThat(store.lookups()).isEqualTo(1);
    assertThat(counter("keyward.cache.requests", "tier", "l1", "result", "hit")).isEqualTo(1);
  }

  @Test
  void keyPastItsFreshWindowIsReloaded() {
    String key = storeKey();
    verifier.verify(key);
    clock.advance(Duration.ofSeconds(30));

    verifier.verify(key);

    assertThat(store.lookups()).isEqualTo(2);
  }

  @Test
  void staleEntryIsServedOnlyWhileTheStoreFails() {
    String key = storeKey();
    verifier.verify(key);
    clock.advance(Duration.ofMinutes(5));
    store.setFailing(true);

    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.VALID);
    assertThat(staleServes()).isEqualTo(1);
    assertThat(registry.get("keyward.store.errors").counter().count()).isEqualTo(1);
  }

  @Test
  void staleEntryIsAnsweredAtOnceWhileTheStoreIsTooSlowAndTheReloadLandsLater() throws Exception {
    // A verification would wait ten minutes for a load it joined; with a stale entry it must not.
    Verifier patient = Verifier.builder(format, store).clock(clock).meterRegistry(registry)
        .settings(new VerifierSettings(Duration.ofSeconds(30), Duration.ofMinutes(10),
            Duration.ofSeconds(5), 1000, Duration.ofMinutes(10), Duration.ofSeconds(2)))
        .build();
    String key = storeKey();
    patient.verify(key);
    clock.advance(Duration.ofMinutes(1));
    BlockedLookups lookups = new BlockedLookups(); // the store hangs (a black-holed network)
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Verdict> verdict = threads.submit(() -> patient.verify(key));

      // A hang guard, not a speed test: the old behaviour waited out the ten minutes.
      assertThat(verdict.get(60, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.VALID);
      assertThat(lookups.started.getCount()).isZero(); // the reload was sent and is still stuck
      assertThat(counter("keyward.cache.stale.serves", "cause", "store_slow")).isEqualTo(1);

      lookups.releaseThem();
    }
    io.keyward.testing.Eventually.await(
        () -> patient.verify(key) instanceof Verdict.Valid && store.lookups() == 2
            && counter("keyward.cache.requests", "tier", "l1", "result", "hit") >= 1);
  }

  @Test
  void openStoreBreakerAnswersCachedKeysStaleAndUnseenKeysUnavailableWithoutALookup() {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      keys.add(storeKey());
    }
    keys.forEach(verifier::verify);
    clock.advance(Duration.ofMinutes(1));
    store.setFailing(true);
    for (int i = 0; i < 3; i++) { // three failures in a row open the breaker
      assertThat(verifier.verify(keys.get(i)).outcome()).isEqualTo(Outcome.VALID);
    }
    int lookups = store.lookups();

    assertThat(verifier.verify(keys.get(3)).outcome()).isEqualTo(Outcome.VALID);
    assertThat(verifier.verify(format.generate(Environment.LIVE)).outcome())
        .isEqualTo(Outcome.UNAVAILABLE);
    assertThat(store.lookups()).isEqualTo(lookups);
    assertThat(verifier.isStoreFailing()).isTrue();
    assertThat(counter("keyward.cache.stale.serves", "cause", "breaker_open")).isEqualTo(1);

    store.setFailing(false);
    clock.advance(Duration.ofSeconds(1)); // the breaker lets one probe through, which succeeds
    assertThat(verifier.verify(keys.get(3)).outcome()).isEqualTo(Outcome.VALID);
    assertThat(store.lookups()).isEqualTo(lookups + 1);
    assertThat(verifier.isStoreFailing()).isFalse();
    assertThat(verifier.verify(keys.get(0)).outcome()).isEqualTo(Outcome.VALID);
    assertThat(store.lookups()).isEqualTo(lookups + 2);
  }

  @Test
  void burstOfNewKeysLargerThanTheBulkheadIsServedInTurnNotRefused() throws Exception {
    Verifier bounded = Verifier.builder(format, store).clock(clock).meterRegistry(registry)
        .settings(settings.withLoadLimits(2, 2)).build();
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      keys.add(storeKey());
    }
    store.onLookup(() -> {
      try {
        Thread.sleep(2); // a real lookup takes time, so the bulkhead is full most of the burst
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    List<Future<Verdict>> verdicts = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (String key : keys) {
        verdicts.add(threads.submit(() -> bounded.verify(key)));
      }
    }
    for (Future<Verdict> verdict : verdicts) {
      assertThat(verdict.get().outcome()).isEqualTo(Outcome.VALID);
    }
  }

  @Test
  void aRowThisReleaseCannotReadFailsThatKeyOnlyAndNeverOpensTheStoreBreaker() {
    String unreadable = storeKey();
    KeyHash unreadableHash = KeyHash.of(unreadable);
    io.keyward.store.KeyLookup lookup = hash -> {
      if (hash.equals(unreadableHash)) {
        throw new IllegalArgumentException("No enum constant KeyOrigin.FEDERATED"); // a newer row
      }
      return store.findByHash(hash);
    };
    Verifier node = Verifier.builder(format, lookup).clock(clock).settings(settings).build();
    for (int i = 0; i < 5; i++) {
      assertThat(node.verify(unreadable).outcome()).isEqualTo(Outcome.UNAVAILABLE);
    }

    assertThat(node.isStoreFailing()).isFalse();
    assertThat(node.verify(storeKey()).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void reloadsThatFindNoPlaceAnswerStaleAndAreCountedWhateverTheEntrysAge() throws Exception {
    Verifier bounded = Verifier.builder(format, store).clock(clock).meterRegistry(registry)
        .settings(settings.withLoadLimits(1, 1)).build();
    String recent = storeKey();
    String old = storeKey();
    String holder = storeKey();
    bounded.verify(old);
    clock.advance(Duration.ofSeconds(40));
    bounded.verify(recent);
    bounded.verify(holder);
    clock.advance(Duration.ofSeconds(31)); // recent, holder: just past fresh; old: 71 s, past grace
    BlockedLookups lookups = new BlockedLookups();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      // The one reload place is taken by a reload stuck in a slow store.
      assertThat(bounded.verify(holder).outcome()).isEqualTo(Outcome.VALID);
      lookups.awaitFirstLookup();

      Verdict justPast = bounded.verify(recent); // no place: its stale entry answers
      Verdict longPast = bounded.verify(old); // waits the stale wait for a place, then the same

      assertThat(justPast.outcome()).isEqualTo(Outcome.VALID);
      assertThat(longPast.outcome()).isEqualTo(Outcome.VALID);
      assertThat(counter("keyward.cache.stale.serves", "cause", "refreshes_full")).isEqualTo(2);
      assertThat(store.lookups()).isEqualTo(4); // three loads, and the one stuck reload
      lookups.releaseThem();
    }
  }

  @Test
  void lookupsOfUnseenKeysAreBoundedSoCachedKeysKeepTheirReloads() throws Exception {
    Verifier bounded = Verifier.builder(format, store).clock(clock).meterRegistry(registry)
        .settings(settings.withLoadLimits(2, 2)).build();
    String cached = storeKey();
    bounded.verify(cached);
    clock.advance(Duration.ofMinutes(1));
    CountDownLatch twoStarted = new CountDownLatch(2);
    CountDownLatch release = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean holding = new java.util.concurrent.atomic.AtomicBoolean(true);
    store.onLookup(() -> {
      if (holding.get()) {
        twoStarted.countDown();
        await(release);
      }
    });
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      // Two made-up keys of our exact shape, each stuck in a lookup: the bulkhead is full.
      threads.submit(() -> bounded.verify(format.generate(Environment.LIVE)));
      threads.submit(() -> bounded.verify(format.generate(Environment.LIVE)));
      assertThat(twoStarted.await(10, TimeUnit.SECONDS)).isTrue();
      holding.set(false);
      int lookups = store.lookups();

      Verdict third = bounded.verify(format.generate(Environment.LIVE));
      Verdict reload = bounded.verify(cached);

      assertThat(third).isInstanceOf(Verdict.Unavailable.class);
      assertThat(((Verdict.Unavailable) third).reason()).contains("unseen keys");
      assertThat(reload.outcome()).isEqualTo(Outcome.VALID);
      assertThat(store.lookups()).isEqualTo(lookups + 1); // the reload, not the third unseen key
      assertThat(counter("keyward.cache.stale.serves", "cause", "refreshes_full")).isZero();
      release.countDown();
    }
  }

  @Test
  void staleEntryPastTheStaleWindowIsUnavailableNotDenied() {
    String key = storeKey();
    verifier.verify(key);
    clock.advance(Duration.ofMinutes(10));
    store.setFailing(true);

    assertThat(verifier.verify(key)).isInstanceOf(Verdict.Unavailable.class);
  }

  @Test
  void unseenKeyWhileTheStoreFailsIsUnavailableNeverNotFound() {
    String key = storeKey();
    store.setFailing(true);

    Verdict verdict = verifier.verify(key);

    assertThat(verdict).isInstanceOf(Verdict.Unavailable.class);
    assertThat(verdict.outcome()).isEqualTo(Outcome.UNAVAILABLE);
  }

  @Test
  void expiredNotFoundIsNotServedStaleWhileTheStoreFails() {
    String unknown = format.generate(Environment.LIVE);
    assertThat(verifier.verify(unknown).outcome()).isEqualTo(Outcome.NOT_FOUND);
    clock.advance(Duration.ofSeconds(6));
    store.setFailing(true);

    assertThat(verifier.verify(unknown).outcome()).isEqualTo(Outcome.UNAVAILABLE);
  }

  @Test
  void errorsAreNeverCached() {
    String key = storeKey();
    store.setFailing(true);
    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.UNAVAILABLE);

    store.setFailing(false);

    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.VALID);
    assertThat(store.lookups()).isEqualTo(2);
  }

  @Test
  void concurrentMissesForOneKeyShareOneLoad() throws Exception {
    String key = storeKey();
    BlockedLookups lookups = new BlockedLookups();
    int callers = 32;
    List<Future<Verdict>> verdicts = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      verdicts.add(threads.submit(() -> verifier.verify(key)));
      lookups.awaitFirstLookup();
      for (int i = 1; i < callers; i++) {
        verdicts.add(threads.submit(() -> verifier.verify(key)));
      }
      // Wait until every caller is parked on the shared load before letting it finish.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (registry.get("keyward.verify.shared.loads").counter().count() < callers - 1
          && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      lookups.releaseThem();
      for (Future<Verdict> verdict : verdicts) {
        assertThat(verdict.get(5, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.VALID);
      }
    }
    assertThat(store.lookups()).isEqualTo(1);
    assertThat(registry.get("keyward.verify.shared.loads").counter().count()).isEqualTo(callers - 1);
  }

  @Test
  void invalidationDuringALoadKeepsThatLoadOutOfTheCache() throws Exception {
    String key = storeKey();
    KeyRecord before = store.findByHash(KeyHash.of(key)).orElseThrow();
    BlockedLookups lookups = new BlockedLookups();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Verdict> racing = threads.submit(() -> verifier.verify(key));
      lookups.awaitFirstLookup();
      // The load read... now a revocation lands and invalidates before the load caches.
      KeyRecord revoked = new KeyRecord(before.keyId(), before.hash(), null, "n", "o", Set.of(),
          "{}", Environment.LIVE, KeyOrigin.ISSUED, before.createdAt(), clock.instant(), null,
          clock.instant(), true, null, 2);
      verifier.invalidate(before.hash());
      lookups.releaseThem();
      racing.get(5, TimeUnit.SECONDS);
      assertThat(store.update(revoked, 1)).isTrue();
    }

    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.REVOKED);
  }

  @Test
  void secondTierRecordOfAnotherKeyIsAMiss() {
    String key = storeKey();
    String other = storeKey();
    KeyRecord otherRecord = store.findByHash(KeyHash.of(other)).orElseThrow();
    CacheTier lying = new CacheTier() {
      @Override public Optional<Entry> read(KeyHash hash) {
        return Optional.of(new Entry(otherRecord, clock.millis()));
      }
      @Override public void write(KeyRecord record, long loadedAtMillis) {}
      @Override public void invalidate(KeyHash hash) {}
    };
    Verifier withTier = verifierWith(lying, UsageSink.NONE);

    Verdict verdict = withTier.verify(key);

    assertThat(verdict.outcome()).isEqualTo(Outcome.VALID);
    assertThat(((Verdict.Valid) verdict).key().hash()).isEqualTo(KeyHash.of(key));
  }

  /** A second tier in memory that records what it is asked, and lets the test play its channel. */
  private static final class RecordingTier implements CacheTier {
    final java.util.Map<KeyHash, Entry> entries = new java.util.concurrent.ConcurrentHashMap<>();
    final List<KeyHash> invalidated = new java.util.concurrent.CopyOnWriteArrayList<>();
    RemoteInvalidations channel = RemoteInvalidations.NONE;

    @Override public Optional<Entry> read(KeyHash hash) { return Optional.ofNullable(entries.get(hash)); }
    @Override public void write(KeyRecord record, long at) { entries.put(record.hash(), new Entry(record, at)); }
    @Override public void invalidate(KeyHash hash) { entries.remove(hash); invalidated.add(hash); }
    @Override public void listen(RemoteInvalidations invalidations) { channel = invalidations; }
  }

  @Test
  void storeLoadsAreWrittenToTheSecondTierAndItsHitsSpareTheStore() {
    RecordingTier tier = new RecordingTier();
    String key = storeKey();
    verifierWith(tier, UsageSink.NONE).verify(key);
    assertThat(tier.entries).containsKey(KeyHash.of(key));

    Verifier otherNode = verifierWith(tier, UsageSink.NONE);
    assertThat(otherNode.verify(key).outcome()).isEqualTo(Outcome.VALID);

    assertThat(store.lookups()).isEqualTo(1);
  }

  @Test
  void secondTierEntryReadFromTheStoreLongerAgoThanTheFreshWindowIsNotUsed() {
    RecordingTier tier = new RecordingTier();
    String key = storeKey();
    KeyRecord record = store.findByHash(KeyHash.of(key)).orElseThrow();
    tier.entries.put(record.hash(), new CacheTier.Entry(record, clock.millis() - 30_000));

    verifierWith(tier, UsageSink.NONE).verify(key);

    assertThat(store.lookups()).isEqualTo(2); // one above, one by the verifier
  }

  @Test
  void remoteInvalidationDropsTheLocalCopyOnly() {
    RecordingTier tier = new RecordingTier();
    Verifier node = verifierWith(tier, UsageSink.NONE);
    String key = storeKey();
    node.verify(key);
    tier.entries.clear();

    tier.channel.invalidated(KeyHash.of(key));
    node.verify(key);

    assertThat(store.lookups()).isEqualTo(2);
    assertThat(tier.invalidated).isEmpty();
  }

  @Test
  void lostChannelEndsFreshnessWithinTheUnsyncedWindowAndShortensItUntilItIsBack() {
    RecordingTier tier = new RecordingTier();
    Verifier node = verifierWith(tier, UsageSink.NONE);
    String key = storeKey();
    node.verify(key);
    tier.entries.clear();

    clock.advance(Duration.ofMillis(1));
    tier.channel.channelLost();
    clock.advance(Duration.ofMillis(2_000)); // every key's point in the spread has passed
    node.verify(key); // reloaded
    assertThat(store.lookups()).isEqualTo(2);
    clock.advance(Duration.ofMillis(1_999));
    tier.entries.clear();
    node.verify(key); // within the unsynced window: cached
    assertThat(store.lookups()).isEqualTo(2);
    clock.advance(Duration.ofMillis(1));
    tier.entries.clear();
    node.verify(key); // the unsynced window (2 s) is over
    assertThat(store.lookups()).isEqualTo(3);
    assertThat(node.isUnsynced()).isTrue();

    clock.advance(Duration.ofMillis(1));
    tier.channel.channelRestored();
    clock.advance(Duration.ofMillis(1_999));
    tier.entries.clear();
    node.verify(key); // loaded while unsynced: its short window still holds after the restore
    assertThat(store.lookups()).isEqualTo(4);
    clock.advance(Duration.ofSeconds(20));
    node.verify(key); // loaded after the restore: normal freshness again
    assertThat(store.lookups()).isEqualTo(4);
    assertThat(node.isUnsynced()).isFalse();
  }

  @Test
  void lostChannelSpreadsTheReloadsOfCachedKeysOverTheUnsyncedWindow() {
    RecordingTier tier = new RecordingTier();
    Verifier node = verifierWith(tier, UsageSink.NONE);
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      keys.add(storeKey());
    }
    keys.forEach(node::verify);
    tier.entries.clear();
    int loaded = store.lookups();

    tier.channel.channelLost();
    clock.advance(Duration.ofMillis(1_000)); // half the unsynced window
    keys.forEach(node::verify);
    int firstHalf = store.lookups() - loaded;
    clock.advance(Duration.ofMillis(1_000));
    tier.entries.clear();
    keys.forEach(node::verify);
    int all = store.lookups() - loaded;

    // Not all at once (the old behaviour: 200 reloads at the instant of the loss), yet every key
    // reloaded once the window is over.
    assertThat(firstHalf).isBetween(40, 160);
    assertThat(all).isEqualTo(200);
  }

  @Test
  void invalidatingOneKeyLeavesTheLoadsOfOtherKeysCacheable() throws Exception {
    String key = storeKey();
    String other = storeKey();
    BlockedLookups lookups = new BlockedLookups();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Verdict> racing = threads.submit(() -> verifier.verify(key));
      lookups.awaitFirstLookup();
      verifier.invalidate(KeyHash.of(other)); // a change to another key, e.g. a bulk revocation
      lookups.releaseThem();
      assertThat(racing.get(5, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.VALID);
    }
    int lookupsSoFar = store.lookups();

    verifier.verify(key);

    assertThat(store.lookups()).isEqualTo(lookupsSoFar); // the racing load was cached
  }

  @Test
  void verifyStartedAfterARevocationDoesNotJoinALoadThatBeganBeforeIt() throws Exception {
    String key = storeKey();
    KeyRecord before = store.findByHash(KeyHash.of(key)).orElseThrow();
    BlockedLookups lookups = new BlockedLookups();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Verdict> early = threads.submit(() -> verifier.verify(key));
      lookups.awaitFirstLookup(); // a load that began before the revocation, still running
      KeyRecord revoked = new KeyRecord(before.keyId(), before.hash(), before.hint(), before.name(),
          before.ownerId(), before.scopes(), before.metaJson(), before.environment(),
          before.origin(), before.createdAt(), clock.instant(), before.expiresAt(),
          clock.instant(), before.enabled(), before.rotatedFrom(), before.version() + 1);
      store.onLookup(() -> {}); // lookups from now on are not held
      store.update(revoked, before.version());
      verifier.invalidate(KeyHash.of(key)); // the revoke call returns after this

      // Joining the early load would wait for it (and answer what it read); a load of its own
      // reads the revocation.
      Verdict late = verifier.verify(key);

      assertThat(late.outcome()).isEqualTo(Outcome.REVOKED);
      lookups.releaseThem();
      early.get(5, TimeUnit.SECONDS);
    }
    assertThat(verifier.verify(key).outcome()).isEqualTo(Outcome.REVOKED);
  }

  @Test
  void lostChannelStillLeavesEntriesForStaleServingWhenTheStoreFailsToo() {
    RecordingTier tier = new RecordingTier();
    Verifier node = verifierWith(tier, UsageSink.NONE);
    String key = storeKey();
    node.verify(key);
    tier.entries.clear();
    clock.advance(Duration.ofMillis(1));

    tier.channel.channelLost();
    clock.advance(Duration.ofSeconds(2)); // past every key's point in the spread
    store.setFailing(true);

    assertThat(node.verify(key).outcome()).isEqualTo(Outcome.VALID);
    assertThat(staleServes()).isEqualTo(1);
  }

  @Test
  void loadRacingAnInvalidationIsKeptOutOfTheSecondTierToo() throws Exception {
    RecordingTier tier = new RecordingTier();
    Verifier node = verifierWith(tier, UsageSink.NONE);
    String key = storeKey();
    BlockedLookups lookups = new BlockedLookups();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Verdict> racing = threads.submit(() -> node.verify(key));
      lookups.awaitFirstLookup();
      tier.channel.invalidated(KeyHash.of(key));
      lookups.releaseThem();
      racing.get(5, TimeUnit.SECONDS);
    }

    assertThat(tier.entries).isEmpty();
  }

  @Test
  void failingSecondTierAndUsageSinkDoNotTouchTheVerdict() {
    String key = storeKey();
    CacheTier broken = new CacheTier() {
      @Override public Optional<Entry> read(KeyHash hash) { throw new IllegalStateException("redis down"); }
      @Override public void write(KeyRecord record, long at) { throw new IllegalStateException("redis down"); }
      @Override public void invalidate(KeyHash hash) { throw new IllegalStateException("redis down"); }
    };
    UsageSink sink = event -> { throw new IllegalStateException("sink down"); };
    Verifier withBrokenSeams = verifierWith(broken, sink);

    assertThat(withBrokenSeams.verify(key).outcome()).isEqualTo(Outcome.VALID);
    withBrokenSeams.invalidate(KeyHash.of(key));
    assertThat(withBrokenSeams.verify(key).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void usageSinkHearsOfDecisionsOnKnownKeys() {
    String key = storeKey();
    List<UsageSink.UsageEvent> events = new ArrayList<>();
    Verifier reporting = verifierWith(CacheTier.NONE, events::add);

    reporting.verify(key);
    reporting.verify(key, List.of("admin"));
    reporting.verify("kw_live_not-a-key");

    assertThat(events).extracting(UsageSink.UsageEvent::outcome)
        .containsExactly(Outcome.VALID, Outcome.INSUFFICIENT_SCOPE);
  }

  @Test
  void outcomesAreCountedByCode() {
    String key = storeKey();
    String typo = key.substring(0, key.length() - 1) + (key.endsWith("a") ? "b" : "a");
    verifier.verify(key);
    verifier.verify(typo);
    verifier.verify("");

    assertThat(counter("keyward.verify", "outcome", "VALID")).isEqualTo(1);
    assertThat(counter("keyward.verify", "outcome", "MALFORMED")).isEqualTo(2);
  }

  @Test
  void callerChecksAreCountedApartFromClientVerifications() {
    String key = storeKey();
    verifier.verifyCaller(key);
    verifier.verifyCaller("");
    verifier.verify(key);

    assertThat(counter("keyward.caller.verify", "outcome", "VALID")).isEqualTo(1);
    assertThat(counter("keyward.caller.verify", "outcome", "MALFORMED")).isEqualTo(1);
    assertThat(counter("keyward.verify", "outcome", "VALID")).isEqualTo(1);
    assertThat(counter("keyward.verify", "outcome", "MALFORMED")).isZero();
    assertThat(registry.get("keyward.verify.latency").timer().count()).isEqualTo(1);
  }

  @Test
  void callerKeysNotInKeywardsShapeAreNotFoundWithoutAStoreLookup() {
    String imported = "sk-imported-from-elsewhere-0123456789";
    store.insert(record(imported, ids.next()));

    assertThat(verifier.verify(imported)).isInstanceOf(Verdict.Valid.class);
    int lookups = store.lookups();
    verifier.invalidateLocally(KeyHash.of(imported));

    assertThat(verifier.verifyCaller(imported).outcome()).isEqualTo(Outcome.NOT_FOUND);
    assertThat(store.lookups()).isEqualTo(lookups);
    assertThat(verifier.verifyCaller(storeKey())).isInstanceOf(Verdict.Valid.class);
  }

  @Test
  void importedKeyIsNeverACallerEvenInOurExactShape() {
    String lookalike = format.generate(Environment.LIVE); // a valid checksum, but imported
    store.insert(importedRecord(lookalike));

    assertThat(verifier.verify(lookalike)).isInstanceOf(Verdict.Valid.class);
    assertThat(verifier.verifyCaller(lookalike).outcome()).isEqualTo(Outcome.NOT_FOUND);
  }

  @Test
  void callerKeysIssuedUnderAnEarlierPrefixOrANewerFormatVersionStillCall() {
    String underOldPrefix = KeyFormat.withPrefix("old").generate(Environment.LIVE);
    String newerVersion = "kw_live_2" + "A".repeat(45); // a version this build does not know
    store.insert(record(underOldPrefix, ids.next()));
    store.insert(record(newerVersion, ids.next()));
    Verifier renamed = Verifier.builder(KeyFormat.withPrefix("new"), store).clock(clock)
        .settings(settings).build();

    assertThat(renamed.verifyCaller(underOldPrefix)).isInstanceOf(Verdict.Valid.class);
    assertThat(renamed.verifyCaller(newerVersion)).isInstanceOf(Verdict.Valid.class);
  }

  private KeyRecord importedRecord(String key) {
    KeyRecord r = record(key, ids.next());
    return new KeyRecord(r.keyId(), r.hash(), null, r.name(), r.ownerId(), r.scopes(),
        r.metaJson(), r.environment(), KeyOrigin.IMPORTED, r.createdAt(), r.updatedAt(),
        r.expiresAt(), r.revokedAt(), r.enabled(), r.rotatedFrom(), r.version());
  }

  @Test
  void nullRequiredScopeIsUnavailableNotAnException() {
    String key = storeKey();
    java.util.List<String> scopes = new java.util.ArrayList<>();
    scopes.add(null);

    assertThat(verifier.verify(key, scopes).outcome()).isEqualTo(Outcome.UNAVAILABLE);
  }

  @Test
  void invalidSettingsAreRefusedNamingTheValue() {
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> VerifierSettings.DEFAULTS.withStaleFor(Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("staleFor");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> VerifierSettings.DEFAULTS.withMaxEntries(0))
        .hasMessageContaining("maxEntries");
  }

  /** Makes every store lookup wait until released; tells when the first one has started. */
  private final class BlockedLookups {
    final CountDownLatch started = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    BlockedLookups() {
      store.onLookup(() -> {
        started.countDown();
        await(release);
      });
    }

    void awaitFirstLookup() throws InterruptedException {
      assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    }

    void releaseThem() {
      store.onLookup(() -> {});
      release.countDown();
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
