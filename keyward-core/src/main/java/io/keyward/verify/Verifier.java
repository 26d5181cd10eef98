package io.keyward.verify;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.key.ParsedKey;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.KeyLookup;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * Decides whether a key is valid: parse, hash, in-process cache (L1), optional second tier (L2),
 * store.
 *
 * <h2>Decision</h2>
 * A key in this deployment's format with a bad checksum is {@code MALFORMED} without touching a
 * cache or the store. Anything else is looked up by SHA-256. The record found is judged at
 * decision time with the injected clock, in this order: revoked, disabled, expired, scopes.
 *
 * <h2>Caching</h2>
 * Found records are fresh for {@link VerifierSettings#freshFor()}; after that the next
 * verification reloads them. If the reload fails, the old record is still answered from until
 * {@link VerifierSettings#staleFor()} has passed since it was loaded ("stale serve"), so a store
 * outage does not deny keys that were valid a moment ago. "Not found" is cached for
 * {@link VerifierSettings#notFoundFor()} and never served stale. Errors are never cached.
 *
 * <h2>Concurrency</h2>
 * At most one load per key hash runs at a time; concurrent misses wait for it (bounded by
 * {@link VerifierSettings#loadWait()}). An invalidation during a load keeps that load's result
 * out of the cache (an epoch counter), so a revocation cannot be undone by a load that read the
 * row just before it. No locks are taken on the hit path.
 *
 * <h2>Failure</h2>
 * This method never throws for any input. When no decision is possible it returns {@link
 * Verdict.Unavailable}; a second tier or usage sink that fails is ignored.
 */
public final class Verifier {

  private static final Verdict UNEXPECTED_FAILURE =
      new Verdict.Unavailable("verification failed unexpectedly");

  private final KeyFormat format;
  private final KeyLookup store;
  private final CacheTier secondTier;
  private final UsageSink usageSink;
  private final Clock clock;
  private final VerifierSettings settings;
  private final long freshMillis;
  private final long unsyncedFreshMillis;
  /** True while the channel carrying other nodes' invalidations is down. */
  private volatile boolean unsynced;
  /**
   * Entries loaded at or before this time are not fresh (a logical flush when the channel drops or
   * comes back): they must be reloaded before they are answered, but stay for stale serving.
   */
  private volatile long freshnessCutoffMillis = Long.MIN_VALUE;
  private final long staleMillis;
  private final long notFoundMillis;
  private final Cache<KeyHash, CachedLookup> l1;
  private final ConcurrentHashMap<KeyHash, CompletableFuture<Loaded>> inFlight =
      new ConcurrentHashMap<>();
  private final AtomicLong invalidationEpoch = new AtomicLong();
  /** Keys changed within the fresh window, whose second-tier entries are not trusted yet. */
  private final Cache<KeyHash, Boolean> recentlyChanged;
  private final RateLimitedLogger storeWarnings;
  private final RateLimitedLogger seamWarnings;
  private final VerifierMetrics metrics;

  private Verifier(Builder builder) {
    this.format = builder.format;
    this.store = builder.store;
    this.secondTier = builder.secondTier;
    this.usageSink = builder.usageSink;
    this.clock = builder.clock;
    this.settings = builder.settings;
    this.freshMillis = settings.freshFor().toMillis();
    this.unsyncedFreshMillis = settings.freshForWhenUnsynced().toMillis();
    this.staleMillis = settings.staleFor().toMillis();
    // Nothing is answered from L1 once staleFor has passed since it was loaded, not even "not
    // found" (freshFor is never longer than staleFor; the settings check that).
    this.notFoundMillis = Math.min(settings.notFoundFor().toMillis(), staleMillis);
    // No expireAfterWrite: every answer from L1 is checked against its load time here (isFreshAt
    // and the stale-serve check), so Caffeine's own expiry changed no verdict, and it read the
    // clock on every lookup. An entry past staleFor stays until it is reloaded or evicted by size.
    this.l1 =
        Caffeine.newBuilder()
            .maximumSize(settings.maxEntries())
            .executor(Runnable::run)
            .build();
    this.recentlyChanged =
        Caffeine.newBuilder()
            .maximumSize(100_000)
            .expireAfterWrite(settings.freshFor())
            .ticker(() -> TimeUnit.MILLISECONDS.toNanos(clock.millis()))
            .executor(Runnable::run)
            .build();
    var log = LoggerFactory.getLogger(Verifier.class);
    this.storeWarnings = new RateLimitedLogger(log, clock, Duration.ofSeconds(10));
    this.seamWarnings = new RateLimitedLogger(log, clock, Duration.ofSeconds(10));
    this.metrics = new VerifierMetrics(builder.registry);
    secondTier.listen(new ChannelEvents());
  }

  /** Starts building a verifier over {@code store}. */
  public static Builder builder(KeyFormat format, KeyLookup store) {
    return new Builder(format, store);
  }

  /**
   * Verifies {@code key} and checks that it holds every scope in {@code requiredScopes}. Never
   * throws; see the class comment for the rules.
   */
  public Verdict verify(@Nullable CharSequence key, Collection<String> requiredScopes) {
    long started = System.nanoTime();
    Verdict verdict = decideSafely(key, requiredScopes, false);
    metrics.record(verdict.outcome(), System.nanoTime() - started);
    report(verdict);
    return verdict;
  }

  /**
   * Verifies the key of a caller of Keyward's own API (a root key in an {@code Authorization}
   * header): the same decision, caches and usage events as {@link #verify(CharSequence)}, but
   * counted in {@code keyward.caller.verify} and not in {@code keyward.verify} or its latency
   * histogram, so that those count only the verifications clients asked for. Callers hold keys
   * this deployment issued: any other shape is {@code NOT_FOUND} without a lookup, so a flood of
   * made-up bearer strings costs no store query.
   */
  public Verdict verifyCaller(@Nullable CharSequence key) {
    Verdict verdict = decideSafely(key, List.of(), true);
    metrics.callerOutcomes[verdict.outcome().ordinal()].increment();
    report(verdict);
    return verdict;
  }

  private Verdict decideSafely(
      @Nullable CharSequence key, Collection<String> requiredScopes, boolean issuedOnly) {
    try {
      return decide(key, requiredScopes, issuedOnly);
    } catch (RuntimeException e) {
      // A bug or a caller's impossible argument (a null scope, say): still "cannot decide",
      // never a denial and never an exception out of the verify path.
      seamWarnings.warn("verification failed unexpectedly: {}", e.toString());
      return UNEXPECTED_FAILURE;
    }
  }

  private void report(Verdict verdict) {
    if (verdict instanceof Verdict.Valid valid) {
      report(valid.key(), Outcome.VALID);
    } else if (verdict instanceof Verdict.Denied denied && denied.key() != null) {
      report(denied.key(), denied.outcome());
    }
  }

  /** Verifies {@code key} without scope requirements. */
  public Verdict verify(@Nullable CharSequence key) {
    return verify(key, List.of());
  }

  /** Drops the cached answer for one key hash here and in the second tier. */
  public void invalidate(KeyHash hash) {
    invalidationEpoch.incrementAndGet();
    recentlyChanged.put(hash, Boolean.TRUE);
    l1.invalidate(hash);
    try {
      secondTier.invalidate(hash);
    } catch (RuntimeException e) {
      seamWarnings.warn("second cache tier failed to invalidate: {}", e.toString());
    }
  }

  /** Drops the cached answer for one key hash in this process only (another node changed it). */
  public void invalidateLocally(KeyHash hash) {
    invalidationEpoch.incrementAndGet();
    recentlyChanged.put(hash, Boolean.TRUE);
    l1.invalidate(hash);
  }

  /** Whether this node is running with its short "unsynced" freshness (channel down). */
  public boolean isUnsynced() {
    return unsynced;
  }

  /** Drops every cached answer in this process. */
  public void invalidateAll() {
    invalidationEpoch.incrementAndGet();
    l1.invalidateAll();
  }

  /** How many answers the in-process cache holds now (approximate). */
  public long cachedEntries() {
    return l1.estimatedSize();
  }

  private Verdict decide(
      @Nullable CharSequence key, Collection<String> requiredScopes, boolean issuedOnly) {
    // Converted once: the same bytes feed the checksum and SHA-256.
    byte[] ascii = KeyFormat.asciiBytes(key);
    ParsedKey parsed = format.parseAscii(ascii);
    if (parsed instanceof ParsedKey.Malformed malformed) {
      return Verdict.Denied.malformed(malformed.reason());
    }
    if (issuedOnly && !(parsed instanceof ParsedKey.Issued)) {
      return Verdict.Denied.notFound();
    }
    KeyHash hash = KeyHash.ofAscii(ascii);
    long now = clock.millis();
    CachedLookup cached = l1.getIfPresent(hash);
    if (cached != null && cached.isFreshAt(now)) {
      metrics.l1Hit.increment();
      return cached.judge(hash, requiredScopes, now);
    }
    metrics.l1Miss.increment();
    Loaded loaded = loadShared(hash);
    now = clock.millis();
    return switch (loaded) {
      case Loaded.Found found -> found.entry.judge(hash, requiredScopes, now);
      case Loaded.Absent absent -> Verdict.Denied.notFound();
      case Loaded.Failed failed -> {
        if (cached != null && cached.record != null && now - cached.loadedAtMillis < staleMillis) {
          metrics.staleServes.increment();
          yield cached.judge(hash, requiredScopes, now);
        }
        yield new Verdict.Unavailable(failed.reason);
      }
    };
  }

  /** Loads through the second tier and the store, sharing one load among concurrent callers. */
  private Loaded loadShared(KeyHash hash) {
    CompletableFuture<Loaded> mine = new CompletableFuture<>();
    CompletableFuture<Loaded> theirs = inFlight.putIfAbsent(hash, mine);
    if (theirs != null) {
      metrics.sharedLoads.increment();
      return await(theirs);
    }
    Loaded loaded = Loaded.FAILED_UNEXPECTEDLY;
    try {
      loaded = load(hash);
      return loaded;
    } finally {
      inFlight.remove(hash, mine);
      mine.complete(loaded);
    }
  }

  private Loaded await(CompletableFuture<Loaded> load) {
    try {
      return load.get(settings.loadWait().toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return new Loaded.Failed("store lookup did not finish within " + settings.loadWait());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Loaded.Failed("interrupted while waiting for the store");
    } catch (ExecutionException e) {
      return Loaded.FAILED_UNEXPECTEDLY;
    }
  }

  private Loaded load(KeyHash hash) {
    long epoch = invalidationEpoch.get();
    CacheTier.Entry fromTier = readSecondTier(hash);
    if (fromTier != null) {
      metrics.l2Hit.increment();
      return cache(hash, fromTier.record(), fromTier.loadedAtMillis(), epoch, false);
    }
    Optional<KeyRecord> fromStore;
    // Taken before the query: the record is at least this fresh, never fresher.
    long queriedAt = clock.millis();
    try {
      fromStore = store.findByHash(hash);
    } catch (RuntimeException e) {
      metrics.storeErrors.increment();
      storeWarnings.warn("key store failed; answering from stale cache or 503: {}", e.toString());
      return new Loaded.Failed("key store unavailable");
    }
    if (fromStore.isEmpty()) {
      putUnlessInvalidated(hash, new CachedLookup(null, queriedAt), epoch);
      return Loaded.ABSENT;
    }
    return cache(hash, fromStore.get(), queriedAt, epoch, true);
  }

  /**
   * Caches a loaded record in L1 (and, if it came from the store, in the second tier) unless an
   * invalidation arrived since the load began: then the record may predate the change, so it is
   * answered once but kept out of both caches.
   */
  private Loaded cache(KeyHash hash, KeyRecord record, long loadedAt, long epoch, boolean fromStore) {
    CachedLookup entry = new CachedLookup(record, loadedAt);
    // The record holds an equal hash: keying L1 by it keeps one KeyHash per cached key, not two
    // (48 bytes of each entry's ~730, by a heap histogram at 1,000,000 keys).
    KeyHash key = record.hash().equals(hash) ? record.hash() : hash;
    if (putUnlessInvalidated(key, entry, epoch)) {
      if (fromStore) {
        try {
          secondTier.write(record, loadedAt);
        } catch (RuntimeException e) {
          seamWarnings.warn("second cache tier failed to write: {}", e.toString());
        }
      }
    }
    return new Loaded.Found(entry);
  }

  /**
   * Puts {@code entry} in L1 unless an invalidation has happened since {@code epoch}. Checked
   * again after the put, since an invalidation can land between the check and the put; then the
   * entry is taken out again.
   *
   * @return whether the entry stayed
   */
  private boolean putUnlessInvalidated(KeyHash hash, CachedLookup entry, long epoch) {
    if (epoch != invalidationEpoch.get()) {
      return false;
    }
    l1.put(hash, entry);
    if (epoch != invalidationEpoch.get()) {
      l1.asMap().remove(hash, entry);
      return false;
    }
    return true;
  }

  /** A usable second-tier entry for {@code hash}, or null. */
  private CacheTier.@Nullable Entry readSecondTier(KeyHash hash) {
    if (secondTier == CacheTier.NONE || recentlyChanged.getIfPresent(hash) != null) {
      // Changed within the fresh window: another node may still write the old record to the
      // tier (its load raced the change), so only the store is trusted for this key for now.
      return null;
    }
    try {
      CacheTier.Entry entry = secondTier.read(hash).orElse(null);
      if (entry == null) {
        return null;
      }
      // A tier must never hand back another key's record; if it does, it is a miss (I-4).
      if (!entry.record().hash().matchesInConstantTime(hash)) {
        return null;
      }
      // An entry read from the store longer ago than the fresh window is not fresh here either.
      long loadedAt = entry.loadedAtMillis();
      return loadedAt > freshnessCutoffMillis && clock.millis() - loadedAt < currentFreshMillis()
          ? entry
          : null;
    } catch (RuntimeException e) {
      seamWarnings.warn("second cache tier failed to read: {}", e.toString());
      return null;
    }
  }

  private long currentFreshMillis() {
    return unsynced ? unsyncedFreshMillis : freshMillis;
  }

  /** Hears from the second tier's channel about other nodes' changes. */
  private final class ChannelEvents implements RemoteInvalidations {
    @Override
    public void invalidated(KeyHash hash) {
      invalidateLocally(hash);
    }

    /**
     * Invalidations may be missed from now on: nothing cached so far is fresh any more, and new
     * loads are fresh only for the short unsynced window. Entries are kept (not dropped) so that
     * they can still be served stale if the store fails too.
     */
    @Override
    public void channelLost() {
      unsynced = true;
      expireEverythingLoadedUntilNow();
    }

    @Override
    public void channelRestored() {
      // Changes made while the channel was down were missed; reload before answering as fresh.
      expireEverythingLoadedUntilNow();
      unsynced = false;
    }

    private void expireEverythingLoadedUntilNow() {
      invalidationEpoch.incrementAndGet(); // loads in flight may predate a missed change
      freshnessCutoffMillis = clock.millis();
    }
  }

  private void report(KeyRecord key, Outcome outcome) {
    if (usageSink == UsageSink.NONE) {
      return; // it would discard the event; skip building it and reading the clock for it
    }
    try {
      usageSink.accept(new UsageSink.UsageEvent(key.keyId(), outcome, clock.millis()));
    } catch (RuntimeException e) {
      seamWarnings.warn("usage sink failed; verification unaffected: {}", e.toString());
    }
  }

  /** The result of one load: a record, no record, or no answer. */
  private sealed interface Loaded {
    Loaded ABSENT = new Absent();
    Loaded FAILED_UNEXPECTEDLY = new Failed("key lookup failed unexpectedly");

    record Found(CachedLookup entry) implements Loaded {}

    record Absent() implements Loaded {}

    record Failed(String reason) implements Loaded {}
  }

  /** An L1 entry: a record (or null for "not found") and when it was loaded. */
  private final class CachedLookup {
    final @Nullable KeyRecord record;
    final long loadedAtMillis;
    /** The shared Valid verdict for this record, so a hit allocates nothing. */
    final Verdict.@Nullable Valid valid;

    CachedLookup(@Nullable KeyRecord record, long loadedAtMillis) {
      this.record = record;
      this.loadedAtMillis = loadedAtMillis;
      this.valid = record == null ? null : new Verdict.Valid(record);
    }

    boolean isFreshAt(long now) {
      long window = record == null ? Math.min(notFoundMillis, currentFreshMillis()) : currentFreshMillis();
      return now - loadedAtMillis < window && loadedAtMillis > freshnessCutoffMillis;
    }

    Verdict judge(KeyHash presented, Collection<String> requiredScopes, long now) {
      if (record == null || !record.hash().matchesInConstantTime(presented)) {
        return Verdict.Denied.notFound();
      }
      if (record.isRevoked()) {
        return Verdict.Denied.of(Outcome.REVOKED, record);
      }
      if (!record.enabled()) {
        return Verdict.Denied.of(Outcome.DISABLED, record);
      }
      if (record.expiresAt() != null && now >= record.expiresAt().toEpochMilli()) {
        return Verdict.Denied.of(Outcome.EXPIRED, record);
      }
      if (!requiredScopes.isEmpty() && !record.scopes().containsAll(requiredScopes)) {
        return Verdict.Denied.of(Outcome.INSUFFICIENT_SCOPE, record);
      }
      return valid;
    }
  }

  /** Builds a {@link Verifier}; only the format and the store are required. */
  public static final class Builder {
    private final KeyFormat format;
    private final KeyLookup store;
    private CacheTier secondTier = CacheTier.NONE;
    private UsageSink usageSink = UsageSink.NONE;
    private Clock clock = Clock.systemUTC();
    private VerifierSettings settings = VerifierSettings.DEFAULTS;
    private MeterRegistry registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();

    private Builder(KeyFormat format, KeyLookup store) {
      this.format = java.util.Objects.requireNonNull(format, "format");
      this.store = java.util.Objects.requireNonNull(store, "store");
    }

    public Builder secondTier(CacheTier tier) {
      this.secondTier = java.util.Objects.requireNonNull(tier, "secondTier");
      return this;
    }

    public Builder usageSink(UsageSink sink) {
      this.usageSink = java.util.Objects.requireNonNull(sink, "usageSink");
      return this;
    }

    public Builder clock(Clock clock) {
      this.clock = java.util.Objects.requireNonNull(clock, "clock");
      return this;
    }

    public Builder settings(VerifierSettings settings) {
      this.settings = java.util.Objects.requireNonNull(settings, "settings");
      return this;
    }

    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = java.util.Objects.requireNonNull(registry, "registry");
      return this;
    }

    public Verifier build() {
      return new Verifier(this);
    }
  }

  /** The verifier's meters, registered once so the hot path only increments. */
  private static final class VerifierMetrics {
    final Counter[] outcomes = new Counter[Outcome.values().length];
    final Counter[] callerOutcomes = new Counter[Outcome.values().length];
    final Timer latency;
    final Counter l1Hit;
    final Counter l1Miss;
    final Counter l2Hit;
    final Counter staleServes;
    final Counter sharedLoads;
    final Counter storeErrors;

    VerifierMetrics(MeterRegistry registry) {
      for (Outcome outcome : Outcome.values()) {
        outcomes[outcome.ordinal()] =
            Counter.builder("keyward.verify")
                .description("Verifications by outcome code")
                .tag("outcome", outcome.name())
                .register(registry);
        callerOutcomes[outcome.ordinal()] =
            Counter.builder("keyward.caller.verify")
                .description("Checks of the keys calling Keyward's own API, by outcome code")
                .tag("outcome", outcome.name())
                .register(registry);
      }
      latency =
          Timer.builder("keyward.verify.latency")
              .description("Time to decide a verification, in process")
              .publishPercentileHistogram()
              .minimumExpectedValue(Duration.ofNanos(500))
              .maximumExpectedValue(Duration.ofSeconds(10))
              .register(registry);
      l1Hit = cacheCounter(registry, "l1", "hit");
      l1Miss = cacheCounter(registry, "l1", "miss");
      l2Hit = cacheCounter(registry, "l2", "hit");
      staleServes =
          Counter.builder("keyward.cache.stale.serves")
              .description("Answers served from a stale cache entry because the store failed")
              .register(registry);
      sharedLoads =
          Counter.builder("keyward.verify.shared.loads")
              .description("Cache misses that waited for a load another verification started")
              .register(registry);
      storeErrors =
          Counter.builder("keyward.store.errors")
              .description("Key lookups the store failed to answer")
              .register(registry);
    }

    private static Counter cacheCounter(MeterRegistry registry, String tier, String result) {
      return Counter.builder("keyward.cache.requests")
          .description("Cache lookups by tier and result")
          .tag("tier", tier)
          .tag("result", result)
          .register(registry);
    }

    void record(Outcome outcome, long nanos) {
      outcomes[outcome.ordinal()].increment();
      latency.record(nanos, TimeUnit.NANOSECONDS);
    }
  }
}
