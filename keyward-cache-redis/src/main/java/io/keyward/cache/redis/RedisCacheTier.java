package io.keyward.cache.redis;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.verify.CacheTier;
import io.keyward.verify.CircuitBreaker;
import io.keyward.verify.RemoteInvalidations;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SetArgs;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Redis second cache tier, and the channel on which nodes tell each other about changes.
 *
 * <h2>Reads never decide</h2>
 * Every value is an {@link EntryEnvelope}. Whatever does not decode (damaged, truncated, another
 * version, another key's record, the wrong Redis type) is a miss, counted in {@code
 * keyward.cache.l2.corrupt} by reason, and the verifier's load from the store overwrites it. An
 * entry of a newer envelope version is a miss but is not overwritten for a while: a newer release
 * running beside this one wrote it.
 *
 * <h2>A slow or dead Redis costs little</h2>
 * Commands time out after {@link RedisTierSettings#commandTimeout()}; commands issued while
 * disconnected fail at once. A {@link CircuitBreaker} skips Redis after repeated failures and
 * probes it back. Writes are asynchronous and bounded. Errors are metrics and rate-limited
 * warnings, never exceptions out of this class.
 *
 * <h2>Invalidation across nodes</h2>
 * {@link #invalidate} deletes the entry and publishes the key hash on {@code
 * <namespace>:invalidate}; every node's subscriber drops the key from its L1. Each node also
 * publishes a heartbeat every {@link RedisTierSettings#heartbeatEvery()}. If nothing at all
 * arrives for {@link RedisTierSettings#channelSilenceLimit()}, or the subscription connection
 * drops, the channel counts as lost, end to end (a subscription can die without its connection
 * noticing): the verifier is told ({@link RemoteInvalidations#channelLost()}), expires what it
 * holds and shortens its freshness, until messages arrive again ({@link
 * RemoteInvalidations#channelRestored()}).
 */
public final class RedisCacheTier implements CacheTier, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisCacheTier.class);
  private static final RedisCodec<String, byte[]> CODEC =
      RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);
  /** How long a hash whose entry a newer release wrote is left alone. */
  private static final Duration LEAVE_NEWER_ALONE_FOR = Duration.ofMinutes(1);

  private final RedisTierSettings settings;
  private final SigningKey signingKey;
  private final Clock clock;
  private final RedisClient client;
  private final StatefulRedisConnection<String, byte[]> connection;
  private final RedisAsyncCommands<String, byte[]> redis;
  private final StatefulRedisPubSubConnection<String, String> pubSub;
  private final CircuitBreaker breaker;
  private final Semaphore pendingWrites;
  private final Cache<KeyHash, Boolean> writtenByNewerRelease;
  /** Who hears the channel's signals (a switch changed): see {@link #announce}. */
  private final AtomicReference<java.util.function.Consumer<String>> signals =
      new AtomicReference<>(signal -> { });
  private final AtomicReference<RemoteInvalidations> listener =
      new AtomicReference<>(RemoteInvalidations.NONE);
  private final AtomicBoolean subscribed = new AtomicBoolean();
  private final RateLimitedLogger warnings;
  private final Metrics metrics;
  private final long commandTimeoutNanos;
  private final SetArgs setArgs;
  private final byte[] heartbeat;
  private final java.util.concurrent.ScheduledExecutorService heartbeats;
  /** System.nanoTime() of the last message on the channel: liveness is measured in real time. */
  private volatile long lastMessageNanos = System.nanoTime();

  private RedisCacheTier(RedisTierSettings settings, SigningKey signingKey, Clock clock,
      MeterRegistry registry) {
    this.settings = settings;
    this.signingKey = signingKey;
    this.clock = clock;
    this.breaker = new CircuitBreaker(clock, settings.breakerThreshold(), settings.breakerOpenFor());
    this.pendingWrites = new Semaphore(settings.maxPendingWrites());
    this.writtenByNewerRelease = Caffeine.newBuilder().maximumSize(10_000)
        .expireAfterWrite(LEAVE_NEWER_ALONE_FOR).build();
    this.warnings = new RateLimitedLogger(LOG, clock, Duration.ofSeconds(10));
    this.metrics = new Metrics(registry, breaker, subscribed);
    this.commandTimeoutNanos = settings.commandTimeout().toNanos();
    this.setArgs = SetArgs.Builder.px(settings.entryTtl().toMillis());
    this.heartbeat = ("hb:" + java.util.UUID.randomUUID()).getBytes(StandardCharsets.US_ASCII);

    Duration handshake = handshakeTimeout(settings);
    this.client = client(settings);
    client.addListener(new SubscriptionWatcher());
    try {
      this.connection = client.connect(CODEC);
      this.redis = connection.async();
      this.pubSub = client.connectPubSub();
      pubSub.addListener(new InvalidationSubscriber());
      pubSub.async().subscribe(settings.invalidationChannel())
          .get(handshake.toMillis(), TimeUnit.MILLISECONDS);
      subscribed.set(true);
      lastMessageNanos = System.nanoTime();
    } catch (RuntimeException | ExecutionException | TimeoutException e) {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
      metrics.removeGauges(registry);
      throw new IllegalStateException("cannot connect to Redis at " + settings + ": "
          + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
      metrics.removeGauges(registry);
      throw new IllegalStateException("interrupted while connecting to Redis", e);
    }
    this.heartbeats = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("keyward-redis-heartbeat").factory());
    long every = settings.heartbeatEvery().toMillis();
    heartbeats.scheduleWithFixedDelay(this::beat, every, every, TimeUnit.MILLISECONDS);
  }

  /**
   * A Lettuce client for these settings: reconnecting by itself, refusing commands at once while
   * disconnected, each command bounded by the command timeout. Lettuce bounds the connection
   * handshake by the URI's timeout; a cold JVM's first handshake can take longer than a command
   * may, so it gets its own, longer bound ({@link #handshakeTimeout}).
   */
  static RedisClient client(RedisTierSettings settings) {
    RedisURI uri = RedisURI.create(settings.url());
    uri.setTimeout(handshakeTimeout(settings));
    RedisClient client = RedisClient.create(uri);
    client.setOptions(ClientOptions.builder()
        .autoReconnect(true)
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .socketOptions(SocketOptions.builder().connectTimeout(settings.connectTimeout()).build())
        .timeoutOptions(TimeoutOptions.enabled(settings.commandTimeout()))
        .build());
    return client;
  }

  /** How long connecting (handshake and first subscribe) may take: the connect timeout, at least 1 s. */
  static Duration handshakeTimeout(RedisTierSettings settings) {
    Duration floor = Duration.ofSeconds(1);
    return settings.connectTimeout().compareTo(floor) > 0 ? settings.connectTimeout() : floor;
  }

  /** Publishes this node's heartbeat and checks that the channel has been heard from lately. */
  private void beat() {
    try {
      connection.async().publish(settings.invalidationChannel(), heartbeat);
      long silentNanos = System.nanoTime() - lastMessageNanos;
      if (silentNanos > settings.channelSilenceLimit().toNanos()) {
        markLost("no message on the invalidation channel for " + silentNanos / 1_000_000 + " ms");
      }
    } catch (RuntimeException e) {
      warnings.warn("heartbeat failed: {}", e.toString());
    }
  }

  /**
   * Connects to Redis and subscribes to the invalidation channel.
   *
   * @param signingKey the deployment's key for signing entries; every node must use the same
   * @throws IllegalStateException if Redis cannot be reached at start (later outages are
   *     absorbed, but a wrong URL should stop the deploy)
   */
  public static RedisCacheTier connect(RedisTierSettings settings, SigningKey signingKey,
      Clock clock, MeterRegistry registry) {
    return new RedisCacheTier(settings, signingKey, clock, registry);
  }

  @Override
  public void listen(RemoteInvalidations invalidations) {
    listener.set(invalidations);
  }

  /**
   * Tells every node, over the invalidation channel, that something they keep in step with the
   * store changed ({@code "sw:42"}: the switches reached version 42), so they read it now rather
   * than at their next poll. Sent as a heartbeat-shaped message ({@code hb:sw:42}), which nodes of
   * earlier releases already ignore. Best effort: a lost signal only leaves the poll to do it.
   *
   * @param signal letters, digits, {@code :} and {@code -} only
   */
  public void announce(String signal) {
    if (!signal.matches("[A-Za-z0-9:-]{1,64}")) {
      throw new IllegalArgumentException("a signal is 1-64 letters, digits, ':' or '-', got '"
          + signal + "'");
    }
    try {
      connection.async().publish(settings.invalidationChannel(),
          (SIGNAL_PREFIX + signal).getBytes(StandardCharsets.US_ASCII));
    } catch (RuntimeException e) {
      warnings.warn("could not announce {}: {}", signal, e.toString());
    }
  }

  /** Who hears the signals other nodes (and this one) announce; on the channel's I/O thread. */
  public void onSignal(java.util.function.Consumer<String> receiver) {
    signals.set(receiver);
  }

  /**
   * Registers {@code invalidations} and tells it, under the same lock that reports the channel's
   * losses and returns, whether the channel is live now: for a listener that was told the channel
   * was lost before this tier existed (a node that connected to Redis late).
   */
  void listenAndReportState(RemoteInvalidations invalidations) {
    synchronized (subscribed) {
      listener.set(invalidations);
      if (subscribed.get()) {
        invalidations.channelRestored();
      }
    }
  }

  @Override
  public Optional<Entry> read(KeyHash hash) {
    if (!breaker.allowsCall()) {
      metrics.skipped.increment();
      return Optional.empty();
    }
    byte[] value;
    try {
      value = redis.get(settings.entryKey(hash.toHex())).get(commandTimeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      failed("GET timed out after " + settings.commandTimeout());
      return Optional.empty();
    } catch (ExecutionException e) {
      if (isWrongType(e.getCause())) {
        breaker.recordSuccess();
        metrics.corrupt(CorruptionReason.WRONG_TYPE);
        return Optional.empty();
      }
      failed("GET failed: " + e.getCause());
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      failed("GET interrupted"); // every allowed call reports back, or a probe would wedge the breaker
      return Optional.empty();
    } catch (RuntimeException e) {
      failed("GET failed: " + e);
      return Optional.empty();
    }
    breaker.recordSuccess();
    if (value == null) {
      metrics.misses.increment();
      return Optional.empty();
    }
    return switch (EntryEnvelope.decode(value, hash, signingKey)) {
      case EntryEnvelope.Decoded.Usable usable -> {
        metrics.hits.increment();
        // Never trust a clock ahead of ours for freshness.
        yield Optional.of(new Entry(usable.record(), Math.min(usable.writtenAtMillis(), clock.millis())));
      }
      case EntryEnvelope.Decoded.Unusable unusable -> {
        metrics.corrupt(unusable.reason());
        if (unusable.reason() == CorruptionReason.NEWER_VERSION) {
          writtenByNewerRelease.put(hash, Boolean.TRUE);
        }
        yield Optional.empty();
      }
    };
  }

  @Override
  public void write(KeyRecord record, long loadedAtMillis) {
    if (writtenByNewerRelease.getIfPresent(record.hash()) != null) {
      return;
    }
    if (!pendingWrites.tryAcquire()) {
      metrics.droppedWrites.increment();
      return;
    }
    // Asked last: a call the breaker allows (perhaps its one probe) must report back, and every
    // path below does, through whenComplete or failed().
    if (!breaker.allowsCall()) {
      pendingWrites.release();
      return;
    }
    try {
      redis.set(settings.entryKey(record.hash().toHex()), EntryEnvelope.encode(record, loadedAtMillis, signingKey), setArgs)
          .whenComplete((ok, error) -> {
            pendingWrites.release();
            if (error == null) {
              breaker.recordSuccess();
              metrics.writes.increment();
            } else {
              failed("SET failed: " + error);
            }
          });
    } catch (RuntimeException e) {
      pendingWrites.release();
      failed("SET failed: " + e);
    }
  }

  /**
   * Deletes the entry and tells every node. Waits (bounded by the command timeout) so that when
   * an admin call returns, the entry is gone; a failure is logged and bounded by the entry TTL.
   */
  @Override
  public void invalidate(KeyHash hash) {
    String hex = hash.toHex();
    try {
      redis.del(settings.entryKey(hex)).get(commandTimeoutNanos, TimeUnit.NANOSECONDS);
      connection.async().publish(settings.invalidationChannel(), hex.getBytes(StandardCharsets.US_ASCII))
          .get(commandTimeoutNanos, TimeUnit.NANOSECONDS);
      metrics.published.increment();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      metrics.invalidationsFailed.increment();
      warnings.warn("could not delete or announce an invalidated entry; other nodes see the change"
          + " within their fresh window: {}", e.toString());
    }
  }

  /** The settings this tier runs with. */
  public RedisTierSettings settings() {
    return settings;
  }

  /**
   * The channel's state and the verifier's mode change together, under one lock, so a loss and a
   * restore racing each other (heartbeat thread, I/O thread) cannot leave them disagreeing.
   */
  private void markLost(String why) {
    synchronized (subscribed) {
      if (subscribed.compareAndSet(true, false)) {
        LOG.warn("{}; expiring the local cache and shortening its freshness until the channel is"
            + " heard again", why);
        listener.get().channelLost();
      }
    }
  }

  private void markRestored() {
    synchronized (subscribed) {
      if (subscribed.compareAndSet(false, true)) {
        LOG.info("invalidation channel {} is heard again; normal freshness resumes",
            settings.invalidationChannel());
        listener.get().channelRestored();
      }
    }
  }

  /** Whether the invalidation subscription is live now. */
  public boolean isSubscribed() {
    return subscribed.get();
  }

  @Override
  public void close() {
    heartbeats.shutdownNow();
    try {
      pubSub.close();
      connection.close();
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  private void failed(String what) {
    metrics.errors.increment();
    if (breaker.recordFailure()) {
      metrics.breakerOpened.increment();
      warnings.warn("Redis is failing ({}); skipping L2 for {} before probing", what,
          settings.breakerOpenFor());
    } else {
      warnings.warn("Redis call failed, treated as a cache miss: {}", what);
    }
  }

  private static boolean isWrongType(Throwable cause) {
    return cause instanceof RedisCommandExecutionException
        && cause.getMessage() != null && cause.getMessage().startsWith("WRONGTYPE");
  }

  /**
   * Receives invalidations and heartbeats published by any node (this one included: harmless).
   * Any message proves the channel works end to end.
   */
  /** Signals travel as heartbeat-shaped messages, which earlier releases ignore. */
  private static final String SIGNAL_PREFIX = "hb:sig:";

  private final class InvalidationSubscriber extends RedisPubSubAdapter<String, String> {
    @Override
    public void message(String channel, String message) {
      lastMessageNanos = System.nanoTime();
      if (!subscribed.get()) {
        markRestored();
      }
      if (message.startsWith(SIGNAL_PREFIX)) {
        try {
          signals.get().accept(message.substring(SIGNAL_PREFIX.length()));
        } catch (RuntimeException e) {
          warnings.warn("a signal's receiver failed: {}", e.toString());
        }
        return;
      }
      if (message.startsWith("hb:")) {
        return;
      }
      KeyHash hash;
      try {
        hash = KeyHash.fromHex(message);
      } catch (IllegalArgumentException e) {
        warnings.warn("ignored a malformed invalidation message on {}", channel);
        return;
      }
      listener.get().invalidated(hash);
      metrics.received.increment();
      // This node may have loaded the old record just before the change and written it to Redis
      // after the changing node's DEL. Redis runs this connection's commands in order, so a DEL
      // sent now lands after any such SET of ours. Asynchronous: this runs on the I/O thread.
      // isOpen, not allowsCall: this DEL reports nothing back, so it must not take the probe.
      if (!breaker.isOpen()) {
        redis.del(settings.entryKey(message));
      }
    }
  }

  /** Notices when the subscription connection drops: invalidations may be missed from then on. */
  private final class SubscriptionWatcher implements RedisConnectionStateListener {
    @Override
    public void onRedisDisconnected(RedisChannelHandler<?, ?> handler) {
      if (handler == pubSub) {
        markLost("the invalidation channel's connection dropped");
      }
    }

    @Override
    public void onRedisConnected(RedisChannelHandler<?, ?> handler, SocketAddress address) {
      // Lettuce resubscribes after reconnecting; the next message marks the channel live again.
    }
  }

  /** The tier's meters. */
  private static final class Metrics {
    final Counter hits;
    final Counter misses;
    final Counter skipped;
    final Counter errors;
    final Counter writes;
    final Counter droppedWrites;
    final Counter breakerOpened;
    final Counter published;
    final Counter received;
    final Counter invalidationsFailed;
    final Map<CorruptionReason, Counter> corrupt = new EnumMap<>(CorruptionReason.class);

    Metrics(MeterRegistry registry, CircuitBreaker breaker, AtomicBoolean subscribed) {
      hits = requests(registry, "hit");
      misses = requests(registry, "miss");
      skipped = requests(registry, "skipped");
      errors = requests(registry, "error");
      writes = Counter.builder("keyward.cache.l2.writes").description("Entries written to Redis")
          .register(registry);
      droppedWrites = Counter.builder("keyward.cache.l2.writes.dropped")
          .description("Writes dropped because too many were in flight").register(registry);
      breakerOpened = Counter.builder("keyward.cache.l2.breaker.opened")
          .description("Times the Redis circuit breaker opened").register(registry);
      published = Counter.builder("keyward.invalidations.published")
          .description("Invalidations announced to other nodes").register(registry);
      received = Counter.builder("keyward.invalidations.received")
          .description("Invalidations received from any node").register(registry);
      invalidationsFailed = Counter.builder("keyward.invalidations.failed")
          .description("Invalidations this node could not delete from Redis or announce; other"
              + " nodes see those changes only within their fresh window")
          .register(registry);
      for (CorruptionReason reason : CorruptionReason.values()) {
        corrupt.put(reason, Counter.builder("keyward.cache.l2.corrupt")
            .description("Redis entries that could not be used, by reason; each was a miss")
            .tag("reason", reason.tag()).register(registry));
      }
      gauges = List.of(
          Gauge.builder("keyward.cache.l2.breaker.open", breaker, b -> b.isOpen() ? 1 : 0)
              .description("1 while the Redis circuit breaker is open").register(registry),
          Gauge.builder("keyward.invalidations.subscribed", subscribed, s -> s.get() ? 1 : 0)
              .description("1 while the invalidation channel is live").register(registry));
    }

    /** The gauges bound to this tier's state. */
    final List<Gauge> gauges;

    /**
     * Unregisters the gauges of a tier that failed to connect: a later attempt (a node that
     * connects in the background) registers its own, bound to its own state.
     */
    void removeGauges(MeterRegistry registry) {
      gauges.forEach(registry::remove);
    }

    void corrupt(CorruptionReason reason) {
      corrupt.get(reason).increment();
    }

    private static Counter requests(MeterRegistry registry, String result) {
      return Counter.builder("keyward.cache.l2.requests").description("Redis reads by result")
          .tag("result", result).register(registry);
    }
  }
}
