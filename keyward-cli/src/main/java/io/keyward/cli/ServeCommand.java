package io.keyward.cli;

import io.keyward.cache.redis.RedisTierSettings;
import io.keyward.server.KeywardServer;
import io.keyward.server.ServerSettings;
import io.keyward.server.UsageSettings;
import io.keyward.usage.UsageExport;
import io.keyward.verify.VerifierSettings;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import io.keyward.key.KeyFormat;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicReference;
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

  @Option(names = "--earlier-key-prefixes", split = ",", paramLabel = "PREFIX",
      defaultValue = "${env:KEYWARD_EARLIER_KEY_PREFIXES}",
      description = "Prefixes this deployment issued keys under before --key-prefix, comma-separated:"
          + " typos in such keys are MALFORMED without a lookup (env KEYWARD_EARLIER_KEY_PREFIXES)."
          + " Keys under any earlier prefix keep working without it.")
  List<String> earlierKeyPrefixes;

  @Option(names = "--max-unseen-lookups", defaultValue = "${env:KEYWARD_MAX_UNSEEN_LOOKUPS:-0}",
      description = "Most store lookups at once of keys this node holds no record of (unknown or"
          + " made-up keys); 0 for half the pool (env KEYWARD_MAX_UNSEEN_LOOKUPS).")
  int maxUnseenLookups;

  @Option(names = "--cache-stale-wait-ms", defaultValue = "${env:KEYWARD_CACHE_STALE_WAIT_MS:-20}",
      description = "How long a verification of a cached key past its fresh window waits for the"
          + " store before answering from the cache (default: ${DEFAULT-VALUE}).")
  long staleWaitMs;

  @Option(names = "--shutdown-not-ready-ms", defaultValue = "${env:KEYWARD_SHUTDOWN_NOT_READY_MS:-2000}",
      description = "On SIGTERM: how long to report not-ready while still serving, so load"
          + " balancers stop sending first (default: ${DEFAULT-VALUE}).")
  long shutdownNotReadyMs;

  @Option(names = "--shutdown-drain-ms", defaultValue = "${env:KEYWARD_SHUTDOWN_DRAIN_MS:-10000}",
      description = "On SIGTERM: longest wait for requests in flight after accepting stops"
          + " (default: ${DEFAULT-VALUE}).")
  long shutdownDrainMs;

  @Option(names = "--no-usage", negatable = false,
      defaultValue = "${env:KEYWARD_NO_USAGE:-false}",
      description = "Do not count verifications (env KEYWARD_NO_USAGE). Counting into PostgreSQL"
          + " is on by default.")
  boolean noUsage;

  @Option(names = "--usage-flush-ms", defaultValue = "${env:KEYWARD_USAGE_FLUSH_MS:-10000}",
      description = "How often a node writes its usage counts, 100-60000 ms; a kill -9 loses at"
          + " most this much (env KEYWARD_USAGE_FLUSH_MS, default 10000).")
  long usageFlushMs;

  @Option(names = "--usage-buffer-cells", defaultValue = "${env:KEYWARD_USAGE_BUFFER_CELLS:-200000}",
      description = "Counters (key, outcome, minute) a node holds between flushes; beyond, events"
          + " are dropped and counted (env KEYWARD_USAGE_BUFFER_CELLS, default 200000).")
  int usageBufferCells;

  @Option(names = "--usage-buffer-events", defaultValue = "${env:KEYWARD_USAGE_BUFFER_EVENTS:-1000000}",
      description = "Verifications a node keeps one by one between flushes when an exporter sends"
          + " events; beyond, verifications are dropped from counts and events alike, and counted"
          + " (env KEYWARD_USAGE_BUFFER_EVENTS, default 1000000).")
  int usageBufferEvents;

  @Option(names = "--usage-nats-export", defaultValue = "${env:KEYWARD_USAGE_NATS_EXPORT}",
      description = "What the NATS exporter sends: counts (per key, outcome and minute; the"
          + " default) or events (every verification) (env KEYWARD_USAGE_NATS_EXPORT).")
  String usageNatsExport;

  @Option(names = "--usage-webhook-export", defaultValue = "${env:KEYWARD_USAGE_WEBHOOK_EXPORT}",
      description = "What the webhook exporter sends: counts (the default) or events (env"
          + " KEYWARD_USAGE_WEBHOOK_EXPORT).")
  String usageWebhookExport;

  @Option(names = "--usage-jsonl-export", defaultValue = "${env:KEYWARD_USAGE_JSONL_EXPORT}",
      description = "What the JSON Lines exporter writes: counts (the default) or events (env"
          + " KEYWARD_USAGE_JSONL_EXPORT).")
  String usageJsonlExport;

  @Option(names = "--usage-retention-days", defaultValue = "${env:KEYWARD_USAGE_RETENTION_DAYS:-400}",
      description = "How long hourly and daily counts are kept; minute counts at most 7 days"
          + " (env KEYWARD_USAGE_RETENTION_DAYS, default 400).")
  int usageRetentionDays;

  @Option(names = "--usage-nats", defaultValue = "${env:KEYWARD_USAGE_NATS}",
      description = "Export usage to NATS JetStream at this URL, nats://host:4222 (env"
          + " KEYWARD_USAGE_NATS). Off without it.")
  String usageNats;

  @Option(names = "--usage-nats-stream", defaultValue = "${env:KEYWARD_USAGE_NATS_STREAM:-KEYWARD_USAGE}",
      description = "The JetStream stream, created if absent (env KEYWARD_USAGE_NATS_STREAM).")
  String usageNatsStream;

  @Option(names = "--usage-nats-subject", defaultValue = "${env:KEYWARD_USAGE_NATS_SUBJECT:-keyward.usage}",
      description = "The subject each batch is published on (env KEYWARD_USAGE_NATS_SUBJECT).")
  String usageNatsSubject;

  @Option(names = "--usage-webhook-url", defaultValue = "${env:KEYWARD_USAGE_WEBHOOK_URL}",
      description = "POST each usage batch to this URL, signed the Standard Webhooks way (env"
          + " KEYWARD_USAGE_WEBHOOK_URL). Needs --usage-webhook-secret.")
  String usageWebhookUrl;

  @Option(names = "--usage-webhook-secret", defaultValue = "${env:KEYWARD_USAGE_WEBHOOK_SECRET}",
      description = "The webhook signing secret, whsec_ + base64 of at least 24 bytes (prefer the"
          + " environment variable KEYWARD_USAGE_WEBHOOK_SECRET: flags show in process lists).")
  String usageWebhookSecret;

  @Option(names = "--usage-jsonl-dir", defaultValue = "${env:KEYWARD_USAGE_JSONL_DIR}",
      description = "Append each usage batch as JSON Lines to hourly files in this directory"
          + " (env KEYWARD_USAGE_JSONL_DIR).")
  String usageJsonlDir;

  @Option(names = "--print-root-key", negatable = false,
      defaultValue = "${env:KEYWARD_PRINT_ROOT_KEY:-false}",
      description = "Print the root key created on first start even when standard output is not a"
          + " terminal (it then goes wherever standard output goes, logs included). Without it, the"
          + " key is only printed to a terminal; it is always written to <data-dir>/root.key.")
  boolean printRootKey;

  @Override
  public Integer call() throws InterruptedException {
    ServerSettings settings = settings();
    // SIGTERM (and Ctrl-C) start a graceful stop on the main thread, which then exits 0; a JVM
    // shutdown hook alone would exit 143 and could not report not-ready before stopping.
    // Holds the first reason to stop, whenever it comes (even during start-up, before take()).
    ArrayBlockingQueue<Integer> exit = new ArrayBlockingQueue<>(1);
    AtomicReference<String> fatalReason = new AtomicReference<>();
    StopSignals.install(() -> offer(exit, 0));
    KeywardServer server = KeywardServer.start(settings, System.out,
        printRootKey || StopSignals.stdoutIsTerminal(), reason -> {
          fatalReason.set(reason);
          offer(exit, 1);
        });
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "keyward-shutdown"));
    int code = exit.take();
    if (code == 0) {
      server.shutDownGracefully(Duration.ofMillis(shutdownNotReadyMs),
          Duration.ofMillis(shutdownDrainMs));
    } else {
      server.close();
      System.err.println("keyward: " + fatalReason.get());
    }
    return code;
  }

  private static void offer(ArrayBlockingQueue<Integer> exit, int code) {
    exit.offer(code); // only the first reason counts: later ones find the queue full
  }

  ServerSettings settings() {
    requireRange("--port", "KEYWARD_PORT", port, 0, 65_535);
    requireRange("--db-pool-size", "KEYWARD_DB_POOL_SIZE", poolSize, 1, 1000);
    requireRange("--max-in-flight", "KEYWARD_MAX_IN_FLIGHT", maxInFlight, 1, 1_000_000);
    requireRange("--max-unseen-lookups", "KEYWARD_MAX_UNSEEN_LOOKUPS", maxUnseenLookups, 0, 1000);
    requireRange("--cache-fresh-seconds", "KEYWARD_CACHE_FRESH_SECONDS", freshSeconds, 1, 86_400);
    requireRange("--cache-stale-seconds", "KEYWARD_CACHE_STALE_SECONDS", staleSeconds, freshSeconds,
        30L * 86_400);
    requireRange("--cache-max-entries", "KEYWARD_CACHE_MAX_ENTRIES", maxEntries, 1, 100_000_000);
    requireRange("--cache-unsynced-fresh-seconds", "KEYWARD_CACHE_UNSYNCED_FRESH_SECONDS",
        unsyncedFreshSeconds, 1, 86_400);
    requireRange("--cache-stale-wait-ms", "KEYWARD_CACHE_STALE_WAIT_MS", staleWaitMs, 1, 5_000);
    requireRange("--shutdown-not-ready-ms", "KEYWARD_SHUTDOWN_NOT_READY_MS", shutdownNotReadyMs, 0,
        600_000);
    requireRange("--shutdown-drain-ms", "KEYWARD_SHUTDOWN_DRAIN_MS", shutdownDrainMs, 0, 600_000);
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("--host (KEYWARD_HOST) must not be empty");
    }
    if (keyPrefix == null || !KeyFormat.PREFIX_PATTERN.matcher(keyPrefix).matches()) {
      throw new IllegalArgumentException("--key-prefix (KEYWARD_KEY_PREFIX): '" + keyPrefix
          + "' is invalid: use 2 to 16 lowercase letters and digits, starting with a letter");
    }
    List<String> earlier = earlierKeyPrefixes == null ? List.of()
        : earlierKeyPrefixes.stream().map(String::strip).filter(p -> !p.isEmpty()).toList();
    for (String prefix : earlier) {
      if (!KeyFormat.PREFIX_PATTERN.matcher(prefix).matches()) {
        throw new IllegalArgumentException("--earlier-key-prefixes (KEYWARD_EARLIER_KEY_PREFIXES): '"
            + prefix + "' is invalid: use 2 to 16 lowercase letters and digits, starting with a letter");
      }
    }
    VerifierSettings defaults = VerifierSettings.DEFAULTS;
    // The pool is split: lookups of unseen keys get half, reloads of cached keys the rest but
    // two, which stay for admin calls and the readiness check.
    int unseen = maxUnseenLookups > 0 ? maxUnseenLookups : Math.max(1, poolSize / 2);
    int reloads = Math.max(1, poolSize - Math.min(unseen, poolSize / 2) - 2);
    // One constructor call, so the settings are checked against each other, not against
    // defaults half-way through (fresh 900 s with stale 1200 s is a valid pair).
    VerifierSettings verifier = new VerifierSettings(Duration.ofSeconds(freshSeconds),
        Duration.ofSeconds(staleSeconds), defaults.notFoundFor(), maxEntries,
        defaults.loadWait(), Duration.ofSeconds(unsyncedFreshSeconds),
        Duration.ofMillis(staleWaitMs), unseen, reloads, defaults.breakerThreshold(),
        defaults.breakerOpenFor());
    return new ServerSettings(host, port, database.dataDir, database.databaseUrl(), keyPrefix,
        !noMigrate, verifier, ServerSettings.DEFAULT_MAX_BODY_BYTES, maxInFlight, poolSize,
        Clock.systemUTC(), redisSettings(), earlier, usageSettings());
  }

  private UsageSettings usageSettings() {
    requireRange("--usage-flush-ms", "KEYWARD_USAGE_FLUSH_MS", usageFlushMs, 100, 60_000);
    requireRange("--usage-buffer-cells", "KEYWARD_USAGE_BUFFER_CELLS", usageBufferCells, 1,
        10_000_000);
    requireRange("--usage-retention-days", "KEYWARD_USAGE_RETENTION_DAYS", usageRetentionDays, 1,
        36_500);
    requireRange("--usage-buffer-events", "KEYWARD_USAGE_BUFFER_EVENTS", usageBufferEvents, 1,
        50_000_000);
    String nats = usageNats == null || usageNats.isBlank() ? null : usageNats.strip();
    java.util.Map<String, UsageExport> kinds = new java.util.HashMap<>();
    exportKind(kinds, "nats", "--usage-nats-export", usageNatsExport, nats, "--usage-nats");
    exportKind(kinds, "webhook", "--usage-webhook-export", usageWebhookExport,
        blankToNull(usageWebhookUrl), "--usage-webhook-url");
    exportKind(kinds, "jsonl", "--usage-jsonl-export", usageJsonlExport,
        blankToNull(usageJsonlDir), "--usage-jsonl-dir");
    try {
      return new UsageSettings(!noUsage, Duration.ofMillis(usageFlushMs), usageBufferCells,
          usageRetentionDays, nats, usageNatsStream, usageNatsSubject, blankToNull(usageWebhookUrl),
          blankToNull(usageWebhookSecret),
          blankToNull(usageJsonlDir) == null ? null : java.nio.file.Path.of(usageJsonlDir.strip()),
          usageBufferEvents, kinds);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("usage settings (--usage-*/KEYWARD_USAGE_*): "
          + e.getMessage());
    }
  }

  /** Reads one exporter's {@code counts|events}; set for an exporter that is not configured: an error. */
  private static void exportKind(java.util.Map<String, UsageExport> kinds, String exporter,
      String flag, String value, String configured, String configuringFlag) {
    if (value == null || value.isBlank()) {
      return;
    }
    UsageExport kind = UsageExport.parse(value).orElseThrow(() -> new IllegalArgumentException(
        flag + " must be counts or events, got '" + value + "'"));
    if (configured == null) {
      throw new IllegalArgumentException(flag + " is set, but " + configuringFlag
          + " is not: there is no " + exporter + " exporter to send " + kind.label());
    }
    kinds.put(exporter, kind);
  }

  private static String blankToNull(String value) {
    return value == null || value.isBlank() ? null : value.strip();
  }

  private static void requireRange(String flag, String env, long value, long min, long max) {
    if (value < min || value > max) {
      throw new IllegalArgumentException(flag + " (" + env + ") must be from " + min + " to " + max
          + ", got " + value);
    }
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
