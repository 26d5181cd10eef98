package io.keyward.cache.redis;

import java.time.Duration;
import java.util.Objects;

/**
 * How the Redis tier connects and behaves. Validated on construction; immutable.
 *
 * @param url a Redis URL Lettuce understands: {@code redis://host:6379/0}, {@code rediss://...}
 *     (TLS), {@code redis-sentinel://host:26379/0#mymaster}
 * @param commandTimeout longest a GET/SET/DEL may take before it counts as a failure (a miss)
 * @param connectTimeout longest a (re)connect may take
 * @param entryTtl how long an entry lives in Redis; bounds how stale a record served from L2 can be
 * @param namespace prefix of every Redis key and of the invalidation channel
 * @param breakerThreshold failures in a row that open the circuit breaker
 * @param breakerOpenFor how long the breaker stays open before it probes
 * @param maxPendingWrites most writes in flight; more are dropped (and counted)
 * @param heartbeatEvery how often each node publishes a heartbeat on the invalidation channel
 * @param channelSilenceLimit how long without any message on the channel before it counts as lost
 *     (the subscription may be dead without the connection noticing)
 */
public record RedisTierSettings(
    String url,
    Duration commandTimeout,
    Duration connectTimeout,
    Duration entryTtl,
    String namespace,
    int breakerThreshold,
    Duration breakerOpenFor,
    int maxPendingWrites,
    Duration heartbeatEvery,
    Duration channelSilenceLimit) {

  public RedisTierSettings {
    Objects.requireNonNull(url, "url");
    if (!url.matches("(?i)(redis|rediss|redis-socket|redis-sentinel|rediss-sentinel)://.*")) {
      throw new IllegalArgumentException(
          "Redis URL must start with redis://, rediss:// or redis-sentinel://, got '"
              + url.replaceAll("//[^@/]*@", "//***@") + "'");
    }
    positive(commandTimeout, "Redis command timeout");
    positive(connectTimeout, "Redis connect timeout");
    positive(entryTtl, "Redis entry TTL");
    positive(breakerOpenFor, "Redis breaker open time");
    if (namespace == null || !namespace.matches("[A-Za-z0-9_.-]{1,64}")) {
      throw new IllegalArgumentException(
          "Redis namespace must be 1-64 letters, digits, '_', '.' or '-', got '" + namespace + "'");
    }
    if (breakerThreshold < 1) {
      throw new IllegalArgumentException("Redis breaker threshold must be at least 1");
    }
    if (maxPendingWrites < 1) {
      throw new IllegalArgumentException("Redis max pending writes must be at least 1");
    }
    positive(heartbeatEvery, "Redis heartbeat interval");
    positive(channelSilenceLimit, "Redis channel silence limit");
    if (channelSilenceLimit.compareTo(heartbeatEvery.multipliedBy(2)) < 0) {
      throw new IllegalArgumentException("Redis channel silence limit (" + channelSilenceLimit
          + ") must be at least twice the heartbeat interval (" + heartbeatEvery + ")");
    }
  }

  /**
   * 50 ms commands, 200 ms connect, 30 s entries, namespace {@code keyward}, breaker 5 failures /
   * 1 s open, heartbeat every 500 ms, channel lost after 2 s of silence.
   */
  public static RedisTierSettings defaults(String url) {
    return new RedisTierSettings(url, Duration.ofMillis(50), Duration.ofMillis(200),
        Duration.ofSeconds(30), "keyward", 5, Duration.ofSeconds(1), 1_000,
        Duration.ofMillis(500), Duration.ofSeconds(2));
  }

  public RedisTierSettings withNamespace(String value) {
    return new RedisTierSettings(url, commandTimeout, connectTimeout, entryTtl, value,
        breakerThreshold, breakerOpenFor, maxPendingWrites, heartbeatEvery, channelSilenceLimit);
  }

  public RedisTierSettings withCommandTimeout(Duration value) {
    return new RedisTierSettings(url, value, connectTimeout, entryTtl, namespace,
        breakerThreshold, breakerOpenFor, maxPendingWrites, heartbeatEvery, channelSilenceLimit);
  }

  public RedisTierSettings withEntryTtl(Duration value) {
    return new RedisTierSettings(url, commandTimeout, connectTimeout, value, namespace,
        breakerThreshold, breakerOpenFor, maxPendingWrites, heartbeatEvery, channelSilenceLimit);
  }

  public RedisTierSettings withUrl(String value) {
    return new RedisTierSettings(value, commandTimeout, connectTimeout, entryTtl, namespace,
        breakerThreshold, breakerOpenFor, maxPendingWrites, heartbeatEvery, channelSilenceLimit);
  }

  public RedisTierSettings withChannelSilenceLimit(Duration value) {
    return new RedisTierSettings(url, commandTimeout, connectTimeout, entryTtl, namespace,
        breakerThreshold, breakerOpenFor, maxPendingWrites, heartbeatEvery, value);
  }

  /** The Redis key of an entry: {@code <namespace>:key:v1:<sha256 hex>}. */
  String entryKey(String hashHex) {
    return namespace + ":key:v1:" + hashHex;
  }

  /** The pub/sub channel on which invalidations travel. */
  String invalidationChannel() {
    return namespace + ":invalidate";
  }

  private static void positive(Duration value, String name) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
  }

  @Override
  public String toString() {
    return "RedisTierSettings[url=" + url.replaceAll("//[^@/]*@", "//***@")
        + ", commandTimeout=" + commandTimeout + ", entryTtl=" + entryTtl + ", namespace="
        + namespace + "]";
  }
}
