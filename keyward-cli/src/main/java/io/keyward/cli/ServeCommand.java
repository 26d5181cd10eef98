package io.keyward.cli;

import io.keyward.cache.redis.RedisTierSettings;
import io.keyward.server.KeywardServer;
import io.keyward.server.ServerSettings;
import io.keyward.verify.VerifierSettings;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Runs the Keyward server until the process is stopped. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Start the Keyward server. Every option can also be set by its KEYWARD_* environment variable.")
final class ServeCommand implements Callable<Integer> {
  @Option(names = "--host", defaultValue = "${env:KEYWARD_HOST:-127.0.0.1}",
      description = "Address to listen on (env KEYWARD_HOST; default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--port", defaultValue = "${env:KEYWARD_PORT:-8080}",
      description = "Port to listen on, 0 for any free port (env KEYWARD_PORT; default: ${DEFAULT-VALUE}).")
  int port;

  @Mixin DatabaseOptions database;

  @Option(names = "--key-prefix", defaultValue = "${env:KEYWARD_KEY_PREFIX:-kw}",
      description = "Prefix of issued keys: 2-16 lowercase letters and digits (env KEYWARD_KEY_PREFIX; default: ${DEFAULT-VALUE}).")
  String keyPrefix;

  @Option(names = "--no-migrate", negatable = false,
      defaultValue = "${env:KEYWARD_NO_MIGRATE:-false}",
      description = "Do not apply schema migrations at start (env KEYWARD_NO_MIGRATE).")
  boolean noMigrate;

  @Option(names = "--cache-fresh-seconds", defaultValue = "${env:KEYWARD_CACHE_FRESH_SECONDS:-30}",
      description = "How long a cached key is answered from before asking the store again (default: ${DEFAULT-VALUE}).")
  long freshSeconds;

  @Option(names = "--cache-stale-seconds", defaultValue = "${env:KEYWARD_CACHE_STALE_SECONDS:-600}",
      description = "How long a cached key may still be answered from while the store fails (default: ${DEFAULT-VALUE}).")
  long staleSeconds;

  @Option(names = "--cache-max-entries", defaultValue = "${env:KEYWARD_CACHE_MAX_ENTRIES:-100000}",
      description = "Most keys held in the in-process cache (default: ${DEFAULT-VALUE}).")
  long maxEntries;

  @Option(names = "--cache-unsynced-fresh-seconds",
      defaultValue = "${env:KEYWARD_CACHE_UNSYNCED_FRESH_SECONDS:-2}",
      description = "Fresh window while the Redis invalidation channel is down (default: ${DEFAULT-VALUE}).")
  long unsyncedFreshSeconds;

  @Option(names = "--redis-url", defaultValue = "${env:KEYWARD_REDIS_URL}",
      description = "Redis for the second cache tier and cross-node revocation: redis://host:6379/0,"
          + " rediss://..., redis-sentinel://host:26379/0#master (env KEYWARD_REDIS_URL). Off without it.")
  String redisUrl;

  @Option(names = "--redis-timeout-ms", defaultValue = "${env:KEYWARD_REDIS_TIMEOUT_MS:-50}",
      description = "Redis command timeout; a slower answer is a cache miss (default: ${DEFAULT-VALUE}).")
  long redisTimeoutMs;

  @Option(names = "--redis-connect-timeout-ms", defaultValue = "${env:KEYWARD_REDIS_CONNECT_TIMEOUT_MS:-200}",
      description = "Redis connect timeout (default: ${DEFAULT-VALUE}).")
  long redisConnectTimeoutMs;

  @Option(names = "--redis-ttl-seconds", defaultValue = "${env:KEYWARD_REDIS_TTL_SECONDS:-30}",
      description = "Lifetime of a Redis entry (default: ${DEFAULT-VALUE}).")
  long redisTtlSeconds;

  @Option(names = "--redis-namespace", defaultValue = "${env:KEYWARD_REDIS_NAMESPACE:-keyward}",
      description = "Prefix of Keyward's Redis keys and channel (default: ${DEFAULT-VALUE}).")
  String redisNamespace;

  @Option(names = "--redis-channel-silence-ms", defaultValue = "${env:KEYWARD_REDIS_CHANNEL_SILENCE_MS:-2000}",
      description = "Silence on the invalidation channel after which it counts as lost (default: ${DEFAULT-VALUE}).")
  long redisSilenceMs;

  @Option(names = "--max-in-flight", defaultValue = "${env:KEYWARD_MAX_IN_FLIGHT:-4096}",
      description = "Most requests served at once; more get 429 (default: ${DEFAULT-VALUE}).")
  int maxInFlight;

  @Option(names = "--db-pool-size", defaultValue = "${env:KEYWARD_DB_POOL_SIZE:-16}",
      description = "Most database connections (default: ${DEFAULT-VALUE}).")
  int poolSize;

  @Override
  public Integer call() throws InterruptedException {
    ServerSettings settings = settings();
    KeywardServer server = KeywardServer.start(settings, System.out);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      stopped.countDown();
    }, "keyward-shutdown"));
    stopped.await();
    return 0;
  }

  ServerSettings settings() {
    VerifierSettings verifier;
    try {
      // One constructor call, so the settings are checked against each other, not against
      // defaults half-way through (fresh 900 s with stale 1200 s is a valid pair).
      VerifierSettings defaults = VerifierSettings.DEFAULTS;
      verifier = new VerifierSettings(Duration.ofSeconds(freshSeconds),
          Duration.ofSeconds(staleSeconds), defaults.notFoundFor(), maxEntries,
          defaults.loadWait(), Duration.ofSeconds(unsyncedFreshSeconds));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("cache settings: " + e.getMessage());
    }
    return new ServerSettings(host, port, database.dataDir, database.databaseUrl(), keyPrefix,
        !noMigrate, verifier, ServerSettings.DEFAULT_MAX_BODY_BYTES, maxInFlight, poolSize,
        Clock.systemUTC(), redisSettings());
  }

  private RedisTierSettings redisSettings() {
    if (redisUrl == null || redisUrl.isBlank()) {
      return null;
    }
    try {
      RedisTierSettings defaults = RedisTierSettings.defaults(redisUrl.strip());
      return new RedisTierSettings(redisUrl.strip(), Duration.ofMillis(redisTimeoutMs),
          Duration.ofMillis(redisConnectTimeoutMs), Duration.ofSeconds(redisTtlSeconds),
          redisNamespace, defaults.breakerThreshold(), defaults.breakerOpenFor(),
          defaults.maxPendingWrites(), Duration.ofMillis(Math.max(1, redisSilenceMs / 4)),
          Duration.ofMillis(redisSilenceMs));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Redis settings (--redis-*/KEYWARD_REDIS_*): " + e.getMessage());
    }
  }
}
