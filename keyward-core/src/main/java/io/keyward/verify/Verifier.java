package io.keyward.verify;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.key.ParsedKey;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.rollout.CanaryBuckets;
import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.store.KeyLookup;
import io.keyward.store.StoreException;
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
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 * <h2>A failing or slow store</h2>
 * Stale answers are fast. A key with a usable stale entry waits for its reload at most {@link
 * VerifierSettings#staleWait()} (the reload goes on in the background and refreshes the cache
 * when it lands); a {@link CircuitBreaker} stops sending lookups after a few failures in a row, so
 * that while the store is down a cached key is answered at once and an unseen key is {@code
 * UNAVAILABLE} at once, instead of each waiting for the pool's timeout. Two bulkheads bound the
 * lookups in flight: those of keys this node holds no record of (made-up keys of our exact shape
 * cost a query each; {@link VerifierSettings#maxUnseenLoads()}) and the reloads of cached keys
 * ({@link VerifierSettings#maxRefreshLoads()}), so garbage can never take the pool from the keys
 * already in use. A lookup that finds no room is a stale answer or {@code UNAVAILABLE}.
 *
 * <h2>Concurrency</h2>
 * At most one load per key hash runs at a time; concurrent misses wait for it (bounded by
 * {@link VerifierSettings#loadWait()}). An invalidation of a key detaches the load of that key
 * in flight: its result is kept out of the cache, and a verification that starts after the
 * invalidation starts a load of its own instead of joining it, so a revocation cannot be undone
 * by a load that read the row just before it. Invalidations of other keys leave it alone. No
 * locks are taken on the hit path.
 *
 * <h2>Failure</h2>
 * This method never throws for any input. When no decision is possible it returns {@link
 * Verdict.Unavailable}; a second tier or usage sink that fails is ignored.
 */
public final class Verifier {
  /** The switch in front of reading the second cache tier. */
  public static final String L2_SWITCH = "cache.l2";
  /** The second tier's path without switches: always read. */
  private static final SwitchState L2_ALWAYS = new SwitchState(L2_SWITCH, Stage.ON, 0, 0, 0, 0,
      GuardRules.DEFAULTS);
  /** No second tier: nothing to read. */
  private static final SwitchState L2_OFF = SwitchState.controlPath(L2_SWITCH);
  /** The switch in front of answering foreign-shaped strings from the {@link ForeignFilter}. */
  public static final String FOREIGN_FILTER_SWITCH = "verify.foreign-filter";

  /** Longest wait of a lookup of an unseen key for a place in its bulkhead. */
  static final long UNSEEN_PLACE_WAIT_MILLIS = 1_000;

  private static final Verdict UNEXPECTED_FAILURE =
      new Verdict.Unavailable("verification failed unexpectedly");

  private final KeyFormat format;
  private final KeyLookup store;
  private final CacheTier secondTier;
  private final ForeignFilterPath foreignFilter;
  private final @Nullable Rollouts rollouts;
  private final UsageSink usageSink;
  private final Clock clock;
  private final VerifierSettings settings;
  private final long freshMillis;
  private final long unsyncedFreshMillis;
  /** True while the channel carrying other nodes' invalidations is down. */
  private volatile boolean unsynced;
  /**
   * Second-tier entries loaded at or before this time (when the channel dropped or came back) are
   * not trusted: they may predate a change whose invalidation was missed.
   */
  private volatile long freshnessCutoffMillis = Long.MIN_VALUE;
  /**
   * When the channel was last lost. L1 entries loaded before it stop being fresh at a point spread
   * over the following unsynced window by their key hash ({@link #cutoffSpreadMillis}), so that
   * the nodes do not all send their whole caches to the store at the same instant.
   */
  private volatile long lastChannelLossMillis = Long.MIN_VALUE;
  private final long cutoffSpreadMillis;
  /** When the youngest cached record was read from the store; for {@link #canAnswerFromCache}. */
  private volatile long lastRecordLoadedMillis = Long.MIN_VALUE / 2;
  private final long staleMillis;
  private final long notFoundMillis;
  private final Cache<KeyHash, CachedLookup> l1;
  private final ConcurrentHashMap<KeyHash, Load> inFlight = new ConcurrentHashMap<>();
  /** In front of the store's lookups; see the class comment. */
  private final CircuitBreaker breaker;
  private final Semaphore unseenLoads;
  private final Semaphore refreshLoads;
  private final long staleWaitMillis;
  /** Keys changed within the fresh window, whose second-tier entries are not trusted yet. */
  private final Cache<KeyHash, Boolean> recentlyChanged;
  private final RateLimitedLogger storeWarnings;
  private final RateLimitedLogger seamWarnings;
  private final VerifierMetrics metrics;

  private Verifier(Builder builder) {
    this.format = builder.format;
    this.store = builder.store;
    this.secondTier = builder.secondTier;
    this.foreignFilter = new ForeignFilterPath(builder.foreignFilter, builder.rollouts);
    this.rollouts = builder.rollouts;
    this.usageSink = builder.usageSink;
    this.clock = builder.clock;
    this.settings = builder.settings;
    this.freshMillis = settings.freshFor().toMillis();
    this.unsyncedFreshMillis = settings.freshForWhenUnsynced().toMillis();
    this.staleMillis = settings.staleFor().toMillis();
    this.cutoffSpreadMillis = Math.max(1, unsyncedFreshMillis);
    this.staleWaitMillis = settings.staleWait().toMillis();
    this.breaker = new CircuitBreaker(clock, settings.breakerThreshold(), settings.breakerOpenFor());
    this.unseenLoads = new Semaphore(settings.maxUnseenLoads());
    this.refreshLoads = new Semaphore(settings.maxRefreshLoads());
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
    io.micrometer.core.instrument.Gauge.builder("keyward.store.breaker.open", breaker,
            b -> b.isOpen() ? 1 : 0)
        .description("1 while the store breaker holds key lookups back (the store is failing)")
        .register(builder.registry);
    io.micrometer.core.instrument.Gauge.builder("keyward.verify.loads.unseen.available",
            unseenLoads, Semaphore::availablePermits)
        .description("Free places in the bulkhead of lookups of keys this node holds no record of")
        .register(builder.registry);
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
   * header): the same decision and caches as {@link #verify(CharSequence)}, but counted in
   * {@code keyward.caller.verify} and not in {@code keyward.verify}, its latency histogram or
   * usage, so that those count only the verifications clients asked for.
   *
   * <p>Callers hold keys this deployment issued. Whether it did is for the stored record to say
   * ({@link KeyOrigin#ISSUED}; an imported key is never a caller, even one that looks like ours),
   * not the key's shape, so a changed {@code --key-prefix} or a newer format version issued by a
   * newer node never locks a caller out. Strings not even in Keyward's shape ({@link
   * KeyFormat#hasKeywardShape}) are {@code NOT_FOUND} without a lookup; made-up strings of our
   * shape cost a lookup within the unseen-keys bulkhead.
   */
  public Verdict verifyCaller(@Nullable CharSequence key) {
    Verdict verdict = decideSafely(key, List.of(), true);
    if (verdict instanceof Verdict.Valid valid && valid.key().origin() != KeyOrigin.ISSUED) {
      verdict = Verdict.Denied.notFound();
    }
    metrics.callerOutcomes[verdict.outcome().ordinal()].increment();
    // Not usage: the usage of a key counts the verifications clients asked for, as
    // keyward.verify does, not Keyward's checks of its own callers.
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
    String keyId = dropLocally(hash);
    try {
      secondTier.invalidate(hash);
    } catch (RuntimeException e) {
      seamWarnings.warn("second cache tier failed to invalidate: {}", e.toString());
    }
    // Last: a listener's client that asks again at once finds neither this node's L1 nor the
    // second tier holding the old answer (other nodes hear of it over the channel meanwhile).
    tellChanged(hash, keyId);
  }

  /**
   * Hears every change this node's cache hears of: a key changed here or on another node (the
   * same calls that drop the key from L1), and the channel that carries other nodes' changes
   * lost or back. For pushing them further (the server's {@code /v1/invalidations} stream).
   * Implementations must be quick and must not block: they run on the admin call's or the
   * channel's thread.
   */
  public interface ChangeListener {
    /** {@code hash} changed; {@code keyId} if this node had the key cached, else null. */
    void changed(KeyHash hash, @Nullable String keyId);

    /** Changes on other nodes may be missed from now on (the channel is down). */
    void unsynced();

    /** The channel is back. */
    void synced();
  }

  private final java.util.concurrent.CopyOnWriteArrayList<ChangeListener> changeListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();

  /** Adds a listener of changes (see {@link ChangeListener}). */
  public void addChangeListener(ChangeListener listener) {
    changeListeners.add(listener);
  }

  private void tellListeners(java.util.function.Consumer<ChangeListener> event) {
    for (ChangeListener listener : changeListeners) {
      try {
        event.accept(listener);
      } catch (RuntimeException e) {
        seamWarnings.warn("a change listener failed: {}", e.toString());
      }
    }
  }

  /** Drops the cached answer for one key hash in this process only (another node changed it). */
  public void invalidateLocally(KeyHash hash) {
    tellChanged(hash, dropLocally(hash));
  }

  private void tellChanged(KeyHash hash, @Nullable String keyId) {
    if (!changeListeners.isEmpty()) {
      tellListeners(listener -> listener.changed(hash, keyId));
    }
  }

  /** Drops the key from L1 (detaching a load in flight); returns its id if it was cached. */
  private @Nullable String dropLocally(KeyHash hash) {
    CachedLookup cached = changeListeners.isEmpty() ? null : l1.getIfPresent(hash);
    String keyId = cached == null || cached.record == null ? null : cached.record.keyId();
    recentlyChanged.put(hash, Boolean.TRUE);
    // Under the key's compute, so that it cannot interleave with a load's publish: the load in
    // flight is detached (nobody joins it from now on, and it will not publish) and the entry is
    // dropped, as one step.
    l1.asMap().compute(hash, (key, current) -> {
      Load detached = inFlight.remove(hash);
      if (detached != null) {
        detached.superseded = true;
      }
      return null;
    });
    return keyId;
  }

  /** Whether this node is running with its short "unsynced" freshness (channel down). */
  public boolean isUnsynced() {
    return unsynced;
  }

  /** Drops every cached answer in this process. */
  public void invalidateAll() {
    for (KeyHash hash : inFlight.keySet()) {
      Load detached = inFlight.remove(hash);
      if (detached != null) {
        detached.superseded = true;
      }
    }
    l1.invalidateAll();
  }

  /** Whether the store breaker is holding lookups back now (the store has been failing). */
  public boolean isStoreFailing() {
    return breaker.isOpen();
  }

  /**
   * Whether this node holds a record it could answer from if the store failed now: one loaded
   * less than the stale window ago. (Not a count of L1 entries: those include "not found"
   * answers and records past the stale window, which answer nothing.)
   */
  public boolean canAnswerFromCache() {
    return clock.millis() - lastRecordLoadedMillis < staleMillis;
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
    if (issuedOnly && !(parsed instanceof ParsedKey.Issued) && !KeyFormat.hasKeywardShape(ascii)) {
      return Verdict.Denied.notFound();
    }
    KeyHash hash = KeyHash.ofAscii(ascii);
    long now = clock.millis();
    CachedLookup cached = l1.getIfPresent(hash);
    if (cached != null && cached.isFreshAt(now)) {
      metrics.l1Hit.increment();
      Verdict verdict = cached.judge(hash, requiredScopes, now);
      return cached.fromCanaryTier ? confirmed(hash, requiredScopes, verdict) : verdict;
    }
    metrics.l1Miss.increment();
    // A record loaded less than staleFor ago can answer if the reload fails, is slow or finds
    // no room. One that has gone more than a fresh window past its freshness waits a little for
    // a reload place (the stale wait) rather than none, so that under contention the keys that
    // have waited longest get their reloads.
    CachedLookup stale =
        cached != null && cached.record != null && now - cached.loadedAtMillis < staleMillis
            ? cached
            : null;
    boolean lateStale = stale != null && now >= stale.freshUntil() + currentFreshMillis();
    SwitchState filtering = null; // set when the filter said "absent" and the store is to compare
    if (stale == null && parsed instanceof ParsedKey.Foreign && foreignFilter.isPresent()) {
      filtering = foreignFilter.consult(hash);
      if (filtering != null && filtering.stage() == Stage.ON) {
        metrics.foreignFiltered.increment();
        return Verdict.Denied.notFound();
      }
    }
    Loaded loaded = loadShared(hash, stale != null, lateStale);
    if (filtering != null) {
      try { // a comparison is a side effect: it never touches the answer
        foreignFilter.compare(filtering, controlVerdict(loaded));
      } catch (RuntimeException e) {
        seamWarnings.warn("comparing the foreign filter with the store failed: {}", e.toString());
      }
    }
    now = clock.millis();
    return switch (loaded) {
      case Loaded.Found found -> found.entry.fromCanaryTier
          ? confirmed(hash, requiredScopes, found.entry.judge(hash, requiredScopes, now))
          : found.entry.judge(hash, requiredScopes, now);
      case Loaded.Absent absent -> Verdict.Denied.notFound();
      case Loaded.Failed failed -> {
        if (stale != null && now - stale.loadedAtMillis < staleMillis) {
          metrics.staleServes[failed.cause.ordinal()].increment();
          yield stale.judge(hash, requiredScopes, now);
        }
        yield failed.cause == FailureCause.STORE_SLOW
            ? new Verdict.Unavailable("store lookup did not finish within " + settings.loadWait())
            : failed.cause.unavailable;
      }
    };
  }

  /** What a load says by itself, scopes aside (a comparison's control); null if it failed. */
  private @Nullable Verdict controlVerdict(Loaded loaded) {
    return loaded instanceof Loaded.Found found && found.entry().record != null
        ? verdictOf(found.entry().record)
        : loaded == Loaded.ABSENT ? Verdict.Denied.notFound() : null;
  }

  /**
   * Loads through the second tier and the store, sharing one load among concurrent callers.
   *
   * @param canAnswerStale whether the caller holds a stale record to answer from: then it waits
   *     at most {@link VerifierSettings#staleWait()}, and the load runs on a thread of its own so
   *     that it still lands in the cache after the caller has answered
   */
  private Loaded loadShared(KeyHash hash, boolean canAnswerStale, boolean lateStale) {
    Load theirs = inFlight.get(hash);
    if (theirs != null) {
      if (canAnswerStale && breaker.isOpen()) {
        // The store is failing: the load in flight is most likely the breaker's probe, waiting
        // out a timeout. A hot key (every caller's bearer key) would wait on it each time.
        return Loaded.BREAKER_OPEN;
      }
      metrics.sharedLoads.increment();
      return await(theirs.result, canAnswerStale);
    }
    if (secondTier == CacheTier.NONE && breaker.isSkipping()) {
      // The store is failing and there is no other tier to ask: no place, no thread, no wait.
      return Loaded.BREAKER_OPEN;
    }
    Semaphore bulkhead = canAnswerStale ? refreshLoads : unseenLoads;
    long placeWait = !canAnswerStale ? UNSEEN_PLACE_WAIT_MILLIS : lateStale ? staleWaitMillis : 0;
    long waitStarted = System.nanoTime();
    if (!acquire(bulkhead, placeWait)) {
      return canAnswerStale ? Loaded.REFRESHES_FULL : Loaded.UNSEEN_FULL;
    }
    Load mine = new Load();
    theirs = inFlight.putIfAbsent(hash, mine);
    if (theirs != null) {
      bulkhead.release();
      metrics.sharedLoads.increment();
      return await(theirs.result, canAnswerStale);
    }
    if (!canAnswerStale) {
      runLoad(hash, mine, bulkhead);
      return mine.result.join();
    }
    try {
      Thread.ofVirtual().name("keyward-reload").start(() -> runLoad(hash, mine, bulkhead));
    } catch (RuntimeException | OutOfMemoryError e) {
      runLoad(hash, mine, bulkhead); // no thread to be had: load here, as an unseen key would
    }
    // One stale wait in all: the time spent waiting for a place comes out of it.
    long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - waitStarted);
    return await(mine.result, Math.max(1, staleWaitMillis - waited));
  }

  /**
   * Takes a place in a bulkhead, waiting up to {@code waitMillis}. A lookup of an unseen key
   * waits its turn for up to {@link #UNSEEN_PLACE_WAIT_MILLIS}, so that a burst of real new keys
   * (a node that has just started holds none) is served at the pool's pace instead of being
   * refused, while a flood of made-up keys still cannot take more than its share of the pool. A
   * reload does not wait (its stale entry answers meanwhile), or only the stale wait for a key
   * long past its freshness.
   */
  private static boolean acquire(Semaphore bulkhead, long waitMillis) {
    if (bulkhead.tryAcquire()) {
      return true;
    }
    if (waitMillis <= 0) {
      return false;
    }
    try {
      return bulkhead.tryAcquire(waitMillis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Runs one load and publishes its result; never throws. */
  private void runLoad(KeyHash hash, Load load, Semaphore bulkhead) {
    Loaded loaded = Loaded.FAILED_UNEXPECTEDLY;
    try {
      loaded = load(hash, load);
    } catch (RuntimeException e) {
      seamWarnings.warn("key load failed unexpectedly: {}", e.toString());
    } finally {
      bulkhead.release();
      inFlight.remove(hash, load);
      load.result.complete(loaded);
    }
  }

  private Loaded await(CompletableFuture<Loaded> load, boolean canAnswerStale) {
    return await(load, canAnswerStale ? staleWaitMillis : settings.loadWait().toMillis());
  }

  private Loaded await(CompletableFuture<Loaded> load, long waitMillis) {
    try {
      return load.get(waitMillis, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return Loaded.SLOW;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Loaded.FAILED_UNEXPECTEDLY;
    } catch (ExecutionException e) {
      return Loaded.FAILED_UNEXPECTEDLY;
    }
  }

  private Loaded load(KeyHash hash, Load load) {
    // Reading the second tier is a risky path behind the switch cache.l2 (incident I-4): off,
    // only L1 and the store; on, the tier answers; canary, the tier answers for the canary's keys
    // but a record there that would deny is confirmed by the store; shadow, the store answers
    // and a sample of tier reads is compared with it off the request thread.
    SwitchState l2 = secondTier == CacheTier.NONE ? L2_OFF
        : rollouts == null ? L2_ALWAYS : rollouts.board().state(L2_SWITCH);
    CacheTier.Entry fromTier = null;
    CacheTier.Entry toConfirm = null;
    if (l2.stage() == Stage.ON
        || l2.stage() == Stage.CANARY && CanaryBuckets.inCanary(l2, hash.toBytes())) {
      fromTier = readSecondTier(hash);
      if (fromTier != null && l2.stage() == Stage.CANARY
          && !(verdictOf(fromTier.record()) instanceof Verdict.Valid)) {
        toConfirm = fromTier;
        fromTier = null;
      }
    }
    if (fromTier != null) {
      metrics.l2Hit.increment();
      return cache(hash, fromTier.record(), fromTier.loadedAtMillis(), load, false, null,
          l2.stage() == Stage.CANARY);
    }
    // In shadow, the tier is read before the store load, whose own write to the tier waits for
    // that read: the comparison is with what the tier held, not with what this load put there.
    Rollouts.Pending shadowRead = rollouts != null && l2.stage() == Stage.SHADOW
        && rollouts.sampled(l2) ? rollouts.startCandidate(l2, () -> {
          CacheTier.Entry entry = readSecondTier(hash);
          return entry == null ? null : verdictOf(entry.record());
        }) : null;
    Loaded loaded = loadFromStore(hash, load, shadowRead);
    if (rollouts != null && (toConfirm != null || shadowRead != null)) {
      try { // a comparison is a side effect: it never touches the answer
        Verdict control = controlVerdict(loaded);
        if (control != null && toConfirm != null) {
          rollouts.compared(l2, control, verdictOf(toConfirm.record()));
        } else if (control != null && shadowRead != null) {
          rollouts.compareWhenDone(l2, control, shadowRead);
        }
      } catch (RuntimeException e) {
        seamWarnings.warn("comparing the second tier with the store failed: {}", e.toString());
      }
    }
    return loaded;
  }

  /**
   * A verdict from a record the second tier gave in the cache.l2 canary: an allow stands; a
   * denial (a scope the stale record lacks, say) is decided by the store, as the control, and the
   * two are compared. The store's record replaces the tier's in L1 and in the tier. A store that
   * cannot answer makes it "cannot decide", never the tier's denial.
   */
  private Verdict confirmed(KeyHash hash, Collection<String> requiredScopes, Verdict candidate) {
    if (!(candidate instanceof Verdict.Denied) || rollouts == null) {
      return candidate;
    }
    // The store's own load (breaker, metrics, L1 and the tier refilled with its record), not
    // shared with loads in flight, which may be reading the tier.
    Loaded loaded = loadFromStore(hash, new Load(), null);
    Verdict control = switch (loaded) {
      case Loaded.Found found -> found.entry.judge(hash, requiredScopes, clock.millis());
      case Loaded.Absent absent -> Verdict.Denied.notFound();
      case Loaded.Failed failed -> failed.cause.unavailable;
    };
    if (loaded instanceof Loaded.Failed) {
      return control; // cannot decide: never the tier's denial
    }
    try {
      rollouts.compared(rollouts.board().state(L2_SWITCH), control, candidate);
    } catch (RuntimeException e) {
      seamWarnings.warn("comparing the second tier with the store failed: {}", e.toString());
    }
    return control;
  }

  /** What a record says by itself, scopes aside. */
  private Verdict verdictOf(KeyRecord record) {
    long now = clock.millis();
    return new CachedLookup(record, now, record.hash()).judge(record.hash(), List.of(), now);
  }

  private Loaded loadFromStore(KeyHash hash, Load load, Rollouts.@Nullable Pending shadowRead) {
    if (!breaker.allowsCall()) {
      return Loaded.BREAKER_OPEN;
    }
    Optional<KeyRecord> fromStore;
    // Taken before the query: the record is at least this fresh, never fresher.
    long queriedAt = clock.millis();
    boolean reported = false; // the breaker hears of every call it let through, even an Error
    try {
      fromStore = store.findByHash(hash);
      breaker.recordSuccess();
      reported = true;
    } catch (StoreException e) {
      breaker.recordFailure();
      reported = true;
      metrics.storeErrors.increment();
      storeWarnings.warn("key store failed; answering from stale cache or 503: {}", e.toString());
      return Loaded.STORE_FAILED;
    } catch (RuntimeException e) {
      // The store answered, but with something this release cannot read (a row written by a
      // newer release, say): a problem of this key, not of the store's availability, so it does
      // not count towards opening the breaker for every key.
      breaker.recordSuccess();
      reported = true;
      seamWarnings.warn("key lookup failed for one key: {}", e.toString());
      return Loaded.FAILED_UNEXPECTEDLY;
    } finally {
      if (!reported) {
        breaker.recordFailure();
      }
    }
    if (fromStore.isEmpty()) {
      putUnlessSuperseded(hash, new CachedLookup(null, queriedAt, hash), load);
      return Loaded.ABSENT;
    }
    return cache(hash, fromStore.get(), queriedAt, load, true, shadowRead, false);
  }

  /**
   * Caches a loaded record in L1 (and, if it came from the store, in the second tier) unless the
   * key was invalidated since the load began: then the record may predate the change, so it is
   * answered to the callers of this load but kept out of both caches.
   */
  private Loaded cache(KeyHash hash, KeyRecord record, long loadedAt, Load load, boolean fromStore,
      Rollouts.@Nullable Pending writeAfter, boolean fromCanaryTier) {
    CachedLookup entry = new CachedLookup(record, loadedAt, hash, fromCanaryTier);
    // The record holds an equal hash: keying L1 by it keeps one KeyHash per cached key, not two
    // (48 bytes of each entry's ~730, by a heap histogram at 1,000,000 keys).
    KeyHash key = record.hash().equals(hash) ? record.hash() : hash;
    if (putUnlessSuperseded(key, entry, load)) {
      if (fromStore) {
        Runnable write = () -> {
          try {
            secondTier.write(record, loadedAt);
          } catch (RuntimeException e) {
            seamWarnings.warn("second cache tier failed to write: {}", e.toString());
          }
        };
        if (writeAfter != null && rollouts != null) {
          // Held back until the shadow read is done: by then the key may have changed. Written
          // only if no invalidation came since this load began and its record is still in L1.
          rollouts.whenDone(writeAfter, () -> {
            if (!load.superseded && l1.asMap().get(key) == entry) {
              write.run();
            }
          });
        } else {
          write.run();
        }
      }
    }
    return new Loaded.Found(entry);
  }

  /**
   * Puts {@code entry} in L1 unless the key was invalidated since {@code load} began.
   *
   * @return whether the entry stayed
   */
  private boolean putUnlessSuperseded(KeyHash hash, CachedLookup entry, Load load) {
    if (load.superseded) {
      return false;
    }
    // Atomic per key with invalidateLocally's compute: an invalidation either comes first (then
    // this sees superseded and leaves whatever is there, perhaps a newer load's entry) or after
    // (then it removes this entry). A plain put and a re-check would let a late put overwrite a
    // newer entry and be answered before it is taken out again.
    boolean[] stayed = new boolean[1];
    l1.asMap().compute(hash, (key, current) -> {
      if (load.superseded) {
        return current;
      }
      stayed[0] = true;
      return entry;
    });
    if (stayed[0]) {
      // A channel loss whose sweep of L1 ran before this entry was in it: cap it now.
      long lastLoss = lastChannelLossMillis;
      if (entry.loadedAtMillis <= lastLoss) {
        entry.capFreshness(lastLoss);
      }
      if (entry.record != null) {
        lastRecordLoadedMillis = Math.max(lastRecordLoadedMillis, entry.loadedAtMillis);
      }
    }
    return stayed[0];
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
     * Invalidations may be missed from now on: everything cached so far stops being fresh within
     * the short unsynced window (each key at its own point in it, so the reloads are spread), and
     * new loads are fresh only for that window. Entries are kept (not dropped) so that they can
     * still be served stale if the store fails too.
     */
    @Override
    public void channelLost() {
      long now = clock.millis();
      unsynced = true;
      lastChannelLossMillis = now;
      freshnessCutoffMillis = now;
      // One pass over L1 (a few ms at 100,000 entries); entries created by loads in flight are
      // capped when they are made (CachedLookup's constructor).
      l1.asMap().forEach((hash, entry) -> entry.capFreshness(now));
      tellListeners(ChangeListener::unsynced);
    }

    @Override
    public void channelRestored() {
      // Entries loaded while the channel was down keep their short unsynced window, so changes
      // missed meanwhile are still picked up within it; nothing needs flushing.
      freshnessCutoffMillis = clock.millis();
      unsynced = false;
      tellListeners(ChangeListener::synced);
    }
  }

  private void report(KeyRecord key, Outcome outcome) {
    if (usageSink == UsageSink.NONE) {
      return; // it would discard the event; skip building it and reading the clock for it
    }
    try {
      usageSink.accept(new UsageSink.UsageEvent(key.keyId(), key.ownerId(), outcome,
          clock.millis()));
    } catch (RuntimeException e) {
      seamWarnings.warn("usage sink failed; verification unaffected: {}", e.toString());
    }
  }

  /** The result of one load: a record, no record, or no answer. */
  private sealed interface Loaded {
    Loaded ABSENT = new Absent();
    Loaded FAILED_UNEXPECTEDLY = new Failed(FailureCause.UNEXPECTED);
    Loaded STORE_FAILED = new Failed(FailureCause.STORE_FAILED);
    Loaded SLOW = new Failed(FailureCause.STORE_SLOW);
    Loaded BREAKER_OPEN = new Failed(FailureCause.BREAKER_OPEN);
    Loaded UNSEEN_FULL = new Failed(FailureCause.UNSEEN_LOADS_FULL);
    Loaded REFRESHES_FULL = new Failed(FailureCause.REFRESHES_FULL);

    record Found(CachedLookup entry) implements Loaded {}

    record Absent() implements Loaded {}

    record Failed(FailureCause cause) implements Loaded {}
  }

  /** Why a load gave no answer; each is a tag of the stale-serve counter. */
  private enum FailureCause {
    STORE_FAILED("key store unavailable"),
    STORE_SLOW("key store too slow"),
    BREAKER_OPEN("key store unavailable (failing; lookups paused)"),
    UNSEEN_LOADS_FULL("too many lookups of unseen keys at once; retry"),
    REFRESHES_FULL("too many key reloads at once; retry"),
    UNEXPECTED("key lookup failed unexpectedly");

    /** The shared verdict when nothing stale can answer: no allocation per failure. */
    final Verdict.Unavailable unavailable;

    FailureCause(String reason) {
      this.unavailable = new Verdict.Unavailable(reason);
    }

    String tag() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** One load in flight: its result, and whether an invalidation of its key detached it. */
  private static final class Load {
    final CompletableFuture<Loaded> result = new CompletableFuture<>();
    volatile boolean superseded;
  }

  /** An L1 entry: a record (or null for "not found") and when it was loaded. */
  private final class CachedLookup {
    final @Nullable KeyRecord record;
    final long loadedAtMillis;
    /** The shared Valid verdict for this record, so a hit allocates nothing. */
    final Verdict.@Nullable Valid valid;
    /** Where in the spread after a channel loss this key stops being fresh, in ms. */
    private final int lossOffsetMillis;
    /**
     * Answered from without a reload until this time: the load time plus the fresh window in
     * force when it was loaded (the short one while the channel is down), lowered by a channel
     * loss. Volatile: the channel's thread lowers it.
     */
    private volatile long freshUntilMillis;

    /**
     * Whether the record came from the second tier for a key in the cache.l2 canary: a denial
     * from it is never answered on its word (the store decides that request).
     */
    final boolean fromCanaryTier;

    CachedLookup(@Nullable KeyRecord record, long loadedAtMillis, KeyHash hash) {
      this(record, loadedAtMillis, hash, false);
    }

    CachedLookup(@Nullable KeyRecord record, long loadedAtMillis, KeyHash hash,
        boolean fromCanaryTier) {
      this.fromCanaryTier = fromCanaryTier;
      this.record = record;
      this.loadedAtMillis = loadedAtMillis;
      this.valid = record == null ? null : new Verdict.Valid(record);
      this.lossOffsetMillis = (int) Math.floorMod(hash.hashCode(), cutoffSpreadMillis);
      long window = record == null
          ? Math.min(notFoundMillis, currentFreshMillis())
          : currentFreshMillis();
      this.freshUntilMillis = loadedAtMillis + window;
      long lastLoss = lastChannelLossMillis;
      if (loadedAtMillis <= lastLoss) {
        capFreshness(lastLoss); // read before a loss whose sweep of L1 ran already
      }
    }

    boolean isFreshAt(long now) {
      return now < freshUntilMillis;
    }

    long freshUntil() {
      return freshUntilMillis;
    }

    /** After a channel loss at {@code lossMillis}: fresh at most until this key's point in the spread. */
    void capFreshness(long lossMillis) {
      long cap = lossMillis + lossOffsetMillis;
      if (cap < freshUntilMillis) {
        freshUntilMillis = cap;
      }
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
    private ForeignFilter foreignFilter = ForeignFilter.NONE;
    private @Nullable Rollouts rollouts;
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

    /**
     * The filter that may answer foreign-shaped strings {@code NOT_FOUND} without a store lookup,
     * behind the switch {@value #FOREIGN_FILTER_SWITCH} (always consulted without switches).
     */
    public Builder foreignFilter(ForeignFilter filter) {
      this.foreignFilter = java.util.Objects.requireNonNull(filter, "foreignFilter");
      return this;
    }

    /**
     * The switches this verifier's risky paths go through ({@link #L2_SWITCH}). Without them the
     * second tier, if any, is always read (as a library user who set one expects).
     */
    public Builder rollouts(Rollouts rollouts) {
      this.rollouts = java.util.Objects.requireNonNull(rollouts, "rollouts");
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
    final Counter[] staleServes = new Counter[FailureCause.values().length];
    final Counter sharedLoads;
    final Counter storeErrors;
    final Counter foreignFiltered;

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
      for (FailureCause cause : FailureCause.values()) {
        staleServes[cause.ordinal()] =
            Counter.builder("keyward.cache.stale.serves")
                .description("Answers served from a stale cache entry because its reload failed,"
                    + " was slow or found no room, by cause")
                .tag("cause", cause.tag())
                .register(registry);
      }
      sharedLoads =
          Counter.builder("keyward.verify.shared.loads")
              .description("Cache misses that waited for a load another verification started")
              .register(registry);
      storeErrors =
          Counter.builder("keyward.store.errors")
              .description("Key lookups the store failed to answer")
              .register(registry);
      foreignFiltered =
          Counter.builder("keyward.verify.foreign.filtered")
              .description("Foreign-shaped strings answered NOT_FOUND by the foreign filter,"
                  + " without a store lookup")
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
