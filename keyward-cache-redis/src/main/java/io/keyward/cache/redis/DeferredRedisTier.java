package io.keyward.cache.redis;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.verify.CacheTier;
import io.keyward.verify.RemoteInvalidations;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Redis tier for a node that must start whether or not Redis answers: it connects at once if
 * it can, and otherwise starts without it and keeps connecting in the background (every second at
 * first, backing off to {@link #MAX_RETRY_EVERY}). Until it is connected, the tier is a miss for
 * every read, writes go nowhere, and the verifier is told the channel is lost, so it keeps its
 * short "unsynced" freshness (invalidations from other nodes cannot reach it); once connected, the
 * channel is restored and everything works as with {@link RedisCacheTier}. Reported by {@link
 * #status()} (for {@code /health/ready}) and the gauge {@code keyward_cache_l2_connected}.
 */
public final class DeferredRedisTier implements CacheTier, AutoCloseable {
  /** The longest wait between two attempts. */
  static final Duration MAX_RETRY_EVERY = Duration.ofSeconds(10);

  private static final Logger LOG = LoggerFactory.getLogger(DeferredRedisTier.class);

  private final AtomicReference<@Nullable RedisCacheTier> tier = new AtomicReference<>();
  private final AtomicReference<RemoteInvalidations> listener =
      new AtomicReference<>(RemoteInvalidations.NONE);
  private final AtomicReference<java.util.function.Consumer<String>> signals =
      new AtomicReference<>(signal -> { });
  private final @Nullable Thread connector;
  private final Object lock = new Object();
  private volatile @Nullable String lastFailure;
  private volatile boolean closed;

  private DeferredRedisTier(RedisTierSettings settings, SigningKey signingKey, Clock clock,
      MeterRegistry registry, Duration firstRetryAfter) {
    Gauge.builder("keyward.cache.l2.connected", tier, t -> t.get() == null ? 0 : 1)
        .description("1 once this node is connected to Redis").register(registry);
    RedisCacheTier first = null;
    try {
      first = RedisCacheTier.connect(settings, signingKey, clock, registry);
    } catch (IllegalStateException e) {
      lastFailure = e.getMessage();
      LOG.warn("Starting without Redis (the node answers from L1 and the store, with short"
          + " freshness, until it connects; retrying in the background): {}", e.getMessage());
    }
    tier.set(first);
    connector = first != null ? null : Thread.ofVirtual().name("keyward-redis-connect").start(() -> {
      Duration wait = firstRetryAfter;
      while (!closed) {
        try {
          Thread.sleep(wait);
        } catch (InterruptedException e) {
          return;
        }
        try {
          RedisCacheTier connected = RedisCacheTier.connect(settings, signingKey, clock, registry);
          if (closed) {
            connected.close();
            return;
          }
          synchronized (lock) { // one order with listen(): the listener learns every state
            connected.onSignal(signals.get());
            tier.set(connected);
            lastFailure = null;
            // "restored" (flush what was cached meanwhile, resume) only if the channel is live,
            // under the tier's own lock, so a loss racing it is reported after it
            connected.listenAndReportState(listener.get());
          }
          LOG.info("Connected to Redis at {}", settings);
          return;
        } catch (IllegalStateException e) {
          lastFailure = e.getMessage();
          wait = wait.multipliedBy(2).compareTo(MAX_RETRY_EVERY) > 0 ? MAX_RETRY_EVERY
              : wait.multipliedBy(2);
        }
      }
    });
  }

  /** Connects now if Redis answers, else starts without it and connects in the background. */
  public static DeferredRedisTier connect(RedisTierSettings settings, SigningKey signingKey,
      Clock clock, MeterRegistry registry) {
    return new DeferredRedisTier(settings, signingKey, clock, registry, Duration.ofSeconds(1));
  }

  static DeferredRedisTier connect(RedisTierSettings settings, SigningKey signingKey, Clock clock,
      MeterRegistry registry, Duration firstRetryAfter) {
    return new DeferredRedisTier(settings, signingKey, clock, registry, firstRetryAfter);
  }

  /** {@code connected}, or {@code connecting: <why not yet>}. */
  public String status() {
    return tier.get() != null ? "connected" : "connecting: " + lastFailure;
  }

  @Override
  public Optional<Entry> read(KeyHash hash) {
    RedisCacheTier connected = tier.get();
    return connected == null ? Optional.empty() : connected.read(hash);
  }

  @Override
  public void write(KeyRecord record, long loadedAtMillis) {
    RedisCacheTier connected = tier.get();
    if (connected != null) {
      connected.write(record, loadedAtMillis);
    }
  }

  @Override
  public void invalidate(KeyHash hash) {
    RedisCacheTier connected = tier.get();
    if (connected != null) {
      connected.invalidate(hash);
    }
  }

  @Override
  public void listen(RemoteInvalidations invalidations) {
    synchronized (lock) {
      listener.set(invalidations);
      RedisCacheTier connected = tier.get();
      if (connected != null) {
        connected.listen(invalidations);
      } else {
        invalidations.channelLost(); // changes on other nodes cannot reach this one yet
      }
    }
  }

  /** See {@link RedisCacheTier#announce}; nothing while Redis is not connected. */
  public void announce(String signal) {
    RedisCacheTier connected = tier.get();
    if (connected != null) {
      connected.announce(signal);
    }
  }

  /** See {@link RedisCacheTier#onSignal}; kept for a connection made later. */
  public void onSignal(java.util.function.Consumer<String> receiver) {
    synchronized (lock) {
      signals.set(receiver);
      RedisCacheTier connected = tier.get();
      if (connected != null) {
        connected.onSignal(receiver);
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    if (connector != null) {
      connector.interrupt();
      try {
        connector.join(Duration.ofSeconds(5));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    RedisCacheTier connected = tier.getAndSet(null);
    if (connected != null) {
      connected.close();
    }
  }
}
