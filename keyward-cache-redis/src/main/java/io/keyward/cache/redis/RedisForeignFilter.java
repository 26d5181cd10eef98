package io.keyward.cache.redis;

import io.keyward.key.KeyHash;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.store.KeyHashScan;
import io.keyward.store.StoreException;
import io.keyward.verify.BloomFilter;
import io.keyward.verify.ForeignFilter;
import io.lettuce.core.Range;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The foreign filter of a deployment with Redis: a Bloom filter of every stored key's hash,
 * loaded from the store and kept current through an announcement log in Redis, which can prove
 * its negatives.
 *
 * <h2>The proof</h2>
 * Every new key's hash is announced before the key is stored: one Redis script increments a
 * generation and appends {@code <generation>:<hash hex>} to a log (a sorted set by generation),
 * and the announcing call then waits out the trust window {@code W} before it returns. Each node
 * reads the generation every {@link #POLL_EVERY}, applies the log entries it has not applied yet,
 * and trusts a negative only while
 * <ul>
 *   <li>its filter is loaded from the store (entirely),
 *   <li>its last successful read of the generation was <em>sent</em> less than {@code W} ago, and
 *   <li>it has applied every entry up to the generation that read returned, under the same epoch.
 * </ul>
 * A verification that starts after an import answered started at least {@code W} after the
 * announcement reached Redis; the read it relies on was sent less than {@code W} before it, so
 * after the announcement, so it saw its generation, which this node has applied: the hash is in
 * the filter. Anything that breaks a link (Redis slow or down, a gap in the log, a reload in
 * progress, the epoch changed because Redis lost its data) makes the negatives untrusted until
 * it is mended, and the store decides as it would without a filter. Nothing read from Redis can
 * make the filter deny: a log entry only adds a hash (a corrupt one is skipped and forces a
 * reload).
 *
 * <h2>Costs</h2>
 * About 10 bits per stored key (1% false positives at the filter's capacity, which is twice the
 * store's count when loaded; beyond it, the filter is reloaded at twice the size). One small
 * Redis script per node every {@link #POLL_EVERY}. Each new key waits {@code W} longer. The
 * filter is loaded (one scan of the key hashes) only once the switch wants it, so a node whose
 * switch stays {@code off} never scans.
 */
public final class RedisForeignFilter implements ForeignFilter, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisForeignFilter.class);
  /** How often each node reads the generation. */
  static final Duration POLL_EVERY = Duration.ofMillis(5);
  /** The default trust window. */
  public static final Duration DEFAULT_WINDOW = Duration.ofMillis(25);
  /** Announcements kept in the log; a node further behind reloads from the store. */
  static final int LOG_KEPT = 100_000;
  /** Log entries read per command. */
  static final int LOG_PAGE = 5_000;
  /** The least capacity a loaded filter gets, so that a small store's filter has room to grow. */
  static final long MIN_CAPACITY = 100_000;
  static final double FALSE_POSITIVE_RATE = 0.01;
  private static final Duration RETRY_AFTER_FAILURE = Duration.ofSeconds(1);
  /**
   * A loaded filter is reloaded from the store this often even when nothing looks wrong: the
   * backstop for what the log cannot show (an announcement Redis lost without losing its state,
   * as an AOF restart or a failover to a lagging replica can).
   */
  static final Duration FULL_RELOAD_EVERY = Duration.ofHours(1);

  /**
   * Reads the state, creating the epoch if Redis holds none (a new or emptied Redis, or the state
   * evicted): a new epoch starts with an empty log, so that old entries cannot pass for new ones.
   */
  private static final String POLL = """
      if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then redis.call('DEL', KEYS[2]) end
      return {redis.call('HGET', KEYS[1], 'epoch'), redis.call('HGET', KEYS[1], 'gen') or '0'}
      """;
  /** Announces one hash: a new generation and its log entry, the log trimmed to its length. */
  private static final String ANNOUNCE = """
      if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then redis.call('DEL', KEYS[2]) end
      local g = redis.call('HINCRBY', KEYS[1], 'gen', 1)
      redis.call('ZADD', KEYS[2], g, g .. ':' .. ARGV[2])
      local n = redis.call('ZCARD', KEYS[2])
      local keep = tonumber(ARGV[3])
      if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1) end
      return g
      """;

  /** A loaded filter: its epoch and the last generation applied to it. */
  private record Loaded(BloomFilter bloom, String epoch, long applied, long hashes,
      long loadedAtNanos) {}

  /** The last successful read of the generation, and when it was sent ({@code nanoTime}). */
  private record Seen(String epoch, long generation, long sentNanos) {}

  private final RedisTierSettings settings;
  private final KeyHashScan store;
  private final BooleanSupplier wanted;
  private final long windowNanos;
  private final String stateKey;
  private final String logKey;
  private final RedisClient client;
  private final Thread poller;
  private final RateLimitedLogger warnings;
  private final Counter reloads;
  private final Counter reloadFailures;
  private final Counter announceFailures;
  private final Counter corruptEntries;
  private volatile @Nullable StatefulRedisConnection<String, String> connection;
  private volatile @Nullable Loaded loaded;
  private volatile @Nullable Seen seen;
  private volatile boolean closed;

  private RedisForeignFilter(RedisTierSettings settings, KeyHashScan store, BooleanSupplier wanted,
      Duration window, Clock clock, MeterRegistry registry) {
    this.settings = settings;
    this.store = store;
    this.wanted = wanted;
    this.windowNanos = window.toNanos();
    // One hash tag: both keys in one slot, so the scripts also run on a Redis Cluster.
    this.stateKey = "{" + settings.namespace() + ":imports}:state";
    this.logKey = "{" + settings.namespace() + ":imports}:log";
    this.client = RedisCacheTier.client(settings);
    this.warnings = new RateLimitedLogger(LOG, clock, Duration.ofSeconds(10));
    this.reloads = Counter.builder("keyward.foreign.filter.loads")
        .description("Times the foreign filter was loaded from the store").register(registry);
    this.reloadFailures = Counter.builder("keyward.foreign.filter.load.failures")
        .description("Loads of the foreign filter that failed (retried)").register(registry);
    this.announceFailures = Counter.builder("keyward.foreign.filter.announce.failures")
        .description("New keys' hashes that could not be announced to the other nodes' filters")
        .register(registry);
    this.corruptEntries = Counter.builder("keyward.foreign.filter.corrupt.entries")
        .description("Log entries in Redis that were not an announcement (skipped; the filter"
            + " reloads)").register(registry);
    Gauge.builder("keyward.foreign.filter.trusted", this, f -> f.trusted() ? 1 : 0)
        .description("1 while the foreign filter can prove negatives on this node")
        .register(registry);
    Gauge.builder("keyward.foreign.filter.hashes", this, f -> {
      Loaded current = f.loaded;
      return current == null ? 0 : current.hashes();
    }).description("Hashes in this node's foreign filter").register(registry);
    this.poller = Thread.ofPlatform().daemon().name("keyward-foreign-filter").unstarted(this::run);
  }

  /**
   * Starts a filter (and its poller) over this Redis and store. Does not connect yet: a Redis
   * that does not answer leaves the filter untrusted, never the node stopped.
   *
   * @param wanted whether the filter is in use (its switch is not {@code off}): until then it is
   *     not loaded
   * @param window the trust window {@code W}: each new key waits this long; a node whose reads
   *     of Redis take longer does not trust its negatives
   */
  public static RedisForeignFilter start(RedisTierSettings settings, KeyHashScan store,
      BooleanSupplier wanted, Duration window, Clock clock, MeterRegistry registry) {
    if (window.compareTo(POLL_EVERY.multipliedBy(2)) < 0) {
      throw new IllegalArgumentException("the foreign filter's trust window must be at least "
          + POLL_EVERY.multipliedBy(2).toMillis() + " ms, got " + window.toMillis() + " ms");
    }
    RedisForeignFilter filter =
        new RedisForeignFilter(settings, store, wanted, window, clock, registry);
    filter.connection(); // a Redis that answers is connected before the node serves
    filter.poller.start();
    return filter;
  }

  @Override
  public boolean provesAbsent(KeyHash hash) {
    Loaded current = loaded;
    return current != null && proven(current, seen) && !current.bloom().mightContain(hash);
  }

  /** Whether a negative would be trusted now. */
  public boolean trusted() {
    Loaded current = loaded;
    return current != null && proven(current, seen);
  }

  /** The three conditions of the class comment's proof. */
  private boolean proven(Loaded current, @Nullable Seen last) {
    return last != null
        && System.nanoTime() - last.sentNanos() < windowNanos
        && current.applied() >= last.generation()
        && current.epoch().equals(last.epoch());
  }

  /**
   * {@inheritDoc}
   *
   * <p>A failure is thrown for an import always, for an issued key while this node's switch is
   * not {@code off}; otherwise it is counted and the key goes on without it (the hourly reload
   * catches it up). Never blocks on connecting: the connection is the poller's.
   */
  @Override
  public void announce(KeyHash hash, boolean imported) {
    try {
      append(hash);
    } catch (UnannouncedException e) {
      if (imported || wanted.getAsBoolean()) {
        throw e;
      }
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>Announces the hash again, now that the key is stored (best effort), and waits out the
   * trust window: for an import always, for an issued key while this node's switch is not
   * {@code off}. The second announcement closes the gap of a node that reloaded from the store
   * between the first one and the insert and lost the first with Redis's data. (An issued key
   * created while the switch is off here is not waited for, so that a deployment not using the
   * filter does not pay for it: a node of another prefix that turned the filter on within the
   * last second, before this node applied the change, could deny such a key for its first W.)
   */
  @Override
  public void stored(KeyHash hash, boolean imported) {
    try {
      append(hash);
    } catch (UnannouncedException e) {
      // counted and logged; the first announcement stands
    }
    if (imported || wanted.getAsBoolean()) {
      // Every node's read sent from now on sees the announcements; any read a node trusts was
      // sent less than a window before its verification, so after this point once it is over.
      long deadline = System.nanoTime() + windowNanos;
      for (long left = windowNanos; left > 0; left = deadline - System.nanoTime()) {
        LockSupport.parkNanos(left); // may return early (an unpark, an interrupt): wait it out
      }
    }
  }

  private void append(KeyHash hash) {
    StatefulRedisConnection<String, String> redis = connection;
    if (redis == null || !redis.isOpen()) {
      announceFailures.increment();
      throw new UnannouncedException("Redis is unreachable, so the other nodes' foreign filters"
          + " cannot be told of the new key");
    }
    try {
      redis.sync().eval(ANNOUNCE, ScriptOutputType.INTEGER, new String[] {stateKey, logKey},
          UUID.randomUUID().toString(), hash.toHex(), Integer.toString(LOG_KEPT));
    } catch (RuntimeException e) {
      announceFailures.increment();
      warnings.warn("could not announce a new key to the foreign filters: {}", e.toString());
      throw new UnannouncedException("Redis did not take the announcement of the new key ("
          + e.getClass().getSimpleName() + "), so the other nodes' foreign filters cannot be told"
          + " of it");
    }
  }

  private void run() {
    long nextNanos = System.nanoTime();
    while (!closed) {
      try {
        if (!pollOnce()) {
          nextNanos = System.nanoTime() + RETRY_AFTER_FAILURE.toNanos();
        } else {
          nextNanos += POLL_EVERY.toNanos();
        }
      } catch (RuntimeException e) {
        warnings.warn("foreign filter poll failed: {}", e.toString());
        nextNanos = System.nanoTime() + RETRY_AFTER_FAILURE.toNanos();
      }
      long wait = nextNanos - System.nanoTime();
      if (wait > 0) {
        LockSupport.parkNanos(wait);
      } else {
        nextNanos = System.nanoTime(); // late (a load, a pause): no burst to catch up
      }
    }
  }

  /**
   * One read of the generation and what follows from it. False when something failed and the
   * poller should wait before the next try.
   */
  boolean pollOnce() {
    StatefulRedisConnection<String, String> redis = connection();
    if (loaded == null && !wanted.getAsBoolean()) {
      // Not in use: no scan, no reads; connected all the same, for the announcements.
      return redis != null;
    }
    if (redis == null) {
      return false;
    }
    long sent = System.nanoTime();
    List<Object> state;
    try {
      state = redis.sync().eval(POLL, ScriptOutputType.MULTI, new String[] {stateKey, logKey},
          UUID.randomUUID().toString());
    } catch (RuntimeException e) {
      warnings.warn("could not read the foreign filter's generation from Redis: {}",
          e.toString());
      return false;
    }
    String epoch = String.valueOf(state.get(0));
    long generation;
    try {
      generation = Long.parseLong(String.valueOf(state.get(1)));
    } catch (NumberFormatException e) {
      corruptEntries.increment();
      warnings.warn("the foreign filter's generation in Redis is not a number: {}", state);
      return false;
    }
    Loaded current = loaded;
    if (current == null || !current.epoch().equals(epoch) || generation < current.applied()
        || current.hashes() > current.bloom().capacity()
        || System.nanoTime() - current.loadedAtNanos() > FULL_RELOAD_EVERY.toNanos()) {
      return reload(redis, epoch, generation);
    }
    if (generation > current.applied()) {
      Loaded caughtUp = catchUp(redis, current, generation);
      if (caughtUp == null) {
        return reload(redis, epoch, generation);
      }
      loaded = caughtUp;
    }
    seen = new Seen(epoch, generation, sent);
    return true;
  }

  /** Applies the log's entries after {@code current.applied()} up to {@code generation}. */
  private @Nullable Loaded catchUp(StatefulRedisConnection<String, String> redis, Loaded current,
      long generation) {
    List<String> entries;
    try {
      entries = readLog(redis, current.applied(), generation);
    } catch (RuntimeException e) {
      warnings.warn("could not read the foreign filter's log from Redis: {}", e.toString());
      return current; // still behind: negatives stay untrusted until the next poll catches up
    }
    Applied applied = apply(current.bloom(), entries);
    if (!applied.isExactly(current.applied() + 1, generation)) {
      return null; // a gap (trimmed, evicted or corrupt): only the store can mend it
    }
    return new Loaded(current.bloom(), current.epoch(), generation,
        current.hashes() + applied.added(), current.loadedAtNanos());
  }

  /**
   * The log's entries after generation {@code after} up to {@code upTo}, read a page of
   * {@value #LOG_PAGE} at a time so that each command stays within the command timeout.
   */
  private List<String> readLog(StatefulRedisConnection<String, String> redis, long after,
      long upTo) {
    List<String> entries = new java.util.ArrayList<>();
    long from = after;
    while (from < upTo) {
      List<String> page = redis.sync().zrangebyscore(logKey,
          Range.from(Range.Boundary.excluding(from), Range.Boundary.including(upTo)),
          io.lettuce.core.Limit.create(0, LOG_PAGE));
      entries.addAll(page);
      if (page.size() < LOG_PAGE) {
        break;
      }
      String last = page.get(page.size() - 1);
      try {
        from = Long.parseLong(last.substring(0, Math.max(0, last.indexOf(':'))));
      } catch (NumberFormatException e) {
        break; // a corrupt entry ends the read; it shows as a gap
      }
    }
    return entries;
  }

  /** What applying log entries did: their generations (in order) and how many hashes were new. */
  private record Applied(long[] generations, long added) {
    /** Whether the entries were exactly the generations {@code from..to}, one each. */
    boolean isExactly(long from, long to) {
      if (generations.length != to - from + 1) {
        return false;
      }
      for (int i = 0; i < generations.length; i++) {
        if (generations[i] != from + i) {
          return false;
        }
      }
      return true;
    }
  }

  /**
   * Adds the hashes of well-formed entries ({@code <generation>:<hex>}, as the log returns them,
   * by generation). A corrupt entry is counted and left out of the generations, so that it shows
   * as a gap.
   */
  private Applied apply(BloomFilter bloom, List<String> entries) {
    long[] generations = new long[entries.size()];
    int wellFormed = 0;
    long added = 0;
    for (String entry : entries) {
      int colon = entry.indexOf(':');
      KeyHash hash;
      long generation;
      try {
        generation = Long.parseLong(entry.substring(0, Math.max(0, colon)));
        hash = KeyHash.fromHex(entry.substring(colon + 1));
      } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
        corruptEntries.increment();
        continue;
      }
      if (!bloom.mightContain(hash)) {
        added++; // counted once: the filter's fill, not the log's length, decides a resize
      }
      bloom.add(hash);
      generations[wellFormed++] = generation;
    }
    return new Applied(java.util.Arrays.copyOf(generations, wellFormed), added);
  }

  /**
   * Loads a new filter from the store under ({@code epoch}, {@code generation}), read before the
   * scan: announcements up to it whose keys the scan missed (stored after it passed) are in the
   * log, and are added after the scan.
   */
  private boolean reload(StatefulRedisConnection<String, String> redis, String epoch,
      long generation) {
    long started = System.nanoTime();
    BloomFilter bloom;
    long hashes;
    try {
      long count = store.estimatedCount();
      bloom = BloomFilter.sizedFor(Math.max(MIN_CAPACITY, 2 * count), FALSE_POSITIVE_RATE);
      hashes = store.forEachHash(hash -> {
        if (closed) {
          throw new java.util.concurrent.CancellationException("the filter is closing");
        }
        bloom.add(hash);
      });
      List<String> entries = readLog(redis, 0, generation);
      hashes += apply(bloom, entries).added();
    } catch (StoreException | IllegalArgumentException e) {
      reloadFailures.increment();
      warnings.warn("could not load the foreign filter from the store: {}", e.toString());
      return false;
    } catch (RuntimeException e) {
      reloadFailures.increment();
      warnings.warn("could not load the foreign filter: {}", e.toString());
      return false;
    }
    loaded = new Loaded(bloom, epoch, generation, hashes, System.nanoTime());
    reloads.increment();
    LOG.info("foreign filter loaded: {} hashes, {} bits, {} ms", hashes, bloom.bits(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    // Trusted from the next poll on (or at once, if the last read of this epoch is recent and no
    // newer than what was applied: then it proves this filter too).
    return true;
  }

  private @Nullable StatefulRedisConnection<String, String> connection() {
    StatefulRedisConnection<String, String> current = connection;
    if (current != null || closed) {
      return current;
    }
    synchronized (this) {
      if (connection == null && !closed) {
        try {
          connection = client.connect();
        } catch (RuntimeException e) {
          warnings.warn("foreign filter cannot reach Redis at {}: {}", settings, e.toString());
        }
      }
      return connection;
    }
  }

  @Override
  public void close() {
    closed = true;
    poller.interrupt();
    LockSupport.unpark(poller);
    try {
      poller.join(2_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
  }
}
