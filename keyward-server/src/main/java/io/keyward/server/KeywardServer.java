package io.keyward.server;

import com.zaxxer.hikari.HikariDataSource;
import io.helidon.webserver.WebServer;
import io.keyward.admin.IssuedKey;
import io.keyward.cache.redis.DeferredRedisTier;
import io.keyward.cache.redis.RedisForeignFilter;
import io.keyward.cache.redis.SigningKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyIds;
import io.keyward.server.api.KeysApi;
import io.keyward.server.api.NodesApi;
import io.keyward.server.api.SystemApi;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.postgres.ClusterSecrets;
import io.keyward.store.postgres.ConnectionPool;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import io.keyward.store.postgres.NodeRegistry;
import io.keyward.store.postgres.PostgresKeyStore;
import io.keyward.verify.CacheTier;
import io.keyward.verify.ForeignFilter;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Deque;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Keyward: database (embedded or external), migrations, store, verifier, admin and the
 * HTTP server, assembled from {@link ServerSettings}. Closing it stops everything it started, in
 * reverse order.
 */
public final class KeywardServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KeywardServer.class);
  /** This build's release, as the node registry records it. */
  public static final String RELEASE = releaseOf(KeywardServer.class);
  /** Most bytes of request headers accepted, all together; more is 431. */
  public static final int MAX_HEADER_BYTES = HttpListener.MAX_HEADER_BYTES;

  private final WebServer web;
  private final Verifier verifier;
  private final KeyAdministration admin;
  private final PostgresKeyStore store;
  private final DatabaseUrl databaseUrl;
  private final @Nullable IssuedKey createdRootKey;
  private final Path rootKeyFile;
  private final Deque<AutoCloseable> resources;
  private final Readiness readiness;
  private final AtomicInteger inFlight;
  private final io.keyward.server.api.@Nullable InvalidationsApi invalidations;

  private KeywardServer(Builder b) {
    this.web = b.web;
    this.verifier = b.verifier;
    this.admin = b.admin;
    this.store = b.store;
    this.databaseUrl = b.databaseUrl;
    this.createdRootKey = b.createdRootKey;
    this.rootKeyFile = b.rootKeyFile;
    this.resources = b.resources;
    this.readiness = b.readiness;
    this.inFlight = b.inFlightCount;
    this.invalidations = b.invalidationsApi;
  }

  /**
   * Starts a server. If a root key is created (first start on an empty database), it is printed
   * once to {@code console} and written to {@code <data-dir>/root.key}.
   *
   * @throws IllegalStateException naming what could not be started; everything already started
   *     is stopped again
   */
  public static KeywardServer start(ServerSettings settings, PrintStream console) {
    return start(settings, console, true, reason -> {});
  }

  /**
   * Starts a server.
   *
   * @param console where the root key created on first start is announced
   * @param showRootKey whether that announcement holds the secret itself, or only the file it was
   *     written to (standard output of a container or a service goes to the log pipeline: keys
   *     are never logged)
   * @param fatal told, once, when the server can no longer work (its embedded PostgreSQL died);
   *     liveness fails from then on
   */
  public static KeywardServer start(ServerSettings settings, PrintStream console,
      boolean showRootKey, Consumer<String> fatal) {
    Builder b = new Builder();
    try {
      b.build(settings, console, showRootKey, fatal);
      return new KeywardServer(b);
    } catch (RuntimeException e) {
      closeAll(b.resources);
      throw e;
    }
  }

  /**
   * Stops the way a load balancer needs: reports not ready at once, keeps serving for {@code
   * notReadyFor} so that the balancer notices and stops sending, then stops accepting, waits up
   * to {@code drainFor} for the requests in flight, and stops everything. One log line says how
   * it went. Safe to call more than once.
   */
  public void shutDownGracefully(Duration notReadyFor, Duration drainFor) {
    long started = System.nanoTime();
    readiness.stopping();
    sleep(notReadyFor);
    // Streams never end by themselves: ended here, so that the drain below is not held up by
    // them (their clients reconnect to another node).
    if (invalidations != null) {
      invalidations.close();
    }
    int inFlightAtStop = inFlight.get();
    // Drained before the listener stops: Helidon's own stop waits only its short grace period
    // and then interrupts whatever still runs.
    long deadline = System.nanoTime() + drainFor.toNanos();
    while (inFlight.get() > 0 && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(10));
    }
    int abandoned = inFlight.get();
    close();
    LOG.info("Keyward stopped in {} ms: not ready for {} ms first, {} request(s) in flight at"
        + " stop, {} cut off", (System.nanoTime() - started) / 1_000_000, notReadyFor.toMillis(),
        inFlightAtStop, abandoned);
  }

  private static String releaseOf(Class<?> type) {
    String version = type.getPackage() == null ? null : type.getPackage().getImplementationVersion();
    return version == null ? "0.1.0-SNAPSHOT" : version;
  }

  private static void sleep(Duration duration) {
    try {
      Thread.sleep(duration);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The port the HTTP server listens on. */
  public int port() {
    return web.port();
  }

  /** The root key created by this start, or null if the database already held keys. */
  public @Nullable IssuedKey createdRootKey() {
    return createdRootKey;
  }

  /** Where the root key created on first start was written. */
  public Path rootKeyFile() {
    return rootKeyFile;
  }

  public Verifier verifier() {
    return verifier;
  }

  public KeyAdministration admin() {
    return admin;
  }

  public PostgresKeyStore store() {
    return store;
  }

  public DatabaseUrl databaseUrl() {
    return databaseUrl;
  }

  @Override
  public void close() {
    closeAll(resources);
  }

  private static void closeAll(Deque<AutoCloseable> resources) {
    while (true) {
      AutoCloseable resource;
      synchronized (resources) { // close() may race a shutdown hook
        resource = resources.poll();
      }
      if (resource == null) {
        return;
      }
      try {
        resource.close();
      } catch (Exception e) {
        LOG.warn("failed to stop {}: {}", resource, e.toString());
      }
    }
  }

  /** Start-up state, so that a failure part-way can stop what was started. */
  private static final class Builder {
    final Deque<AutoCloseable> resources = new ArrayDeque<>();
    WebServer web;
    Verifier verifier;
    KeyAdministration admin;
    PostgresKeyStore store;
    DatabaseUrl databaseUrl;
    IssuedKey createdRootKey;
    Path rootKeyFile;
    Readiness readiness;
    NodeRegistry nodes;
    io.keyward.server.api.InvalidationsApi invalidationsApi;
    final AtomicInteger inFlightCount = new AtomicInteger();

    void build(ServerSettings settings, PrintStream console, boolean showRootKey,
        Consumer<String> fatal) {
      // The port first: a port that is taken must stop the start before anything is created.
      ListenAddress.requireFree(settings.host(), settings.port());
      Path dataDir = settings.dataDir().toAbsolutePath();
      try {
        Files.createDirectories(dataDir);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create data directory " + dataDir + ": " + e, e);
      }
      databaseUrl = settings.databaseUrl();
      if (databaseUrl == null) {
        LOG.warn("No database URL given: starting an embedded PostgreSQL in {}. This mode is for"
            + " evaluation and single nodes; use --db-url for production.", dataDir.resolve("postgres"));
        EmbeddedDatabase embedded = EmbeddedDatabase.start(dataDir);
        resources.push(embedded);
        databaseUrl = embedded.url();
        EmbeddedWatchdog watchdog = new EmbeddedWatchdog(embedded, reason -> {
          fatalReason = reason;
          LOG.error("{}", reason);
          fatal.accept(reason);
        });
        resources.push(watchdog);
      }
      if (settings.migrateOnStart()) {
        // A migration that breaks the contract of a release still running is refused (I-3).
        Migrations.migrate(databaseUrl,
            io.keyward.schema.ContractGate.forDatabase(databaseUrl, null));
      }
      HikariDataSource pool = ConnectionPool.open(databaseUrl, settings.maxDatabaseConnections());
      resources.push(pool);
      store = new PostgresKeyStore(pool);

      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      new JvmMemoryMetrics().bindTo(registry);
      new JvmGcMetrics().bindTo(registry);
      new JvmThreadMetrics().bindTo(registry);
      new ProcessorMetrics().bindTo(registry);
      resources.push(registry::close);
      if (settings.migrateOnStart()) {
        // Data migrations run after the schema ones, outside their transactions, in the
        // background: a node serves while they run (what needs their data is gated).
        resources.push(BackfillWorker.start(pool,
            io.keyward.store.postgres.KeywardBackfills.ALL, registry));
      }

      CacheTier secondTier = CacheTier.NONE;
      DeferredRedisTier redisTier = null;
      if (settings.redis() != null) {
        byte[] signingKey = new ClusterSecrets(pool, new SecureRandom())
            .getOrCreate(ClusterSecrets.CACHE_SIGNING_KEY);
        // A Redis that does not answer does not stop the start: the node connects later.
        redisTier = DeferredRedisTier.connect(settings.redis(), SigningKey.of(signingKey),
            settings.clock(), registry);
        resources.push(redisTier);
        secondTier = redisTier;
        LOG.info("Redis second cache tier on {}: {}", settings.redis(), redisTier.status());
      }
      DeferredRedisTier redisStatus = redisTier;
      // Read by every verification from memory; in step with the store once this node has an id
      // (below); until then, control paths only.
      RolloutControl switches = new RolloutControl(pool, redisTier, settings.clock(), registry);
      resources.push(switches);
      // Usage: the verifier only increments a counter; writing starts once this node has an id.
      UsageControl usage = new UsageControl(pool, settings.usage(), settings.clock(), registry);
      resources.push(usage);
      KeyFormat format = KeyFormat.withPrefix(settings.keyPrefix())
          .withEarlierPrefixes(settings.earlierKeyPrefixes());
      ForeignFilter foreignFilter = ForeignFilter.NONE;
      if (settings.redis() != null) {
        // Loaded once its switch leaves off; proves its negatives through Redis.
        RedisForeignFilter filter = RedisForeignFilter.start(settings.redis(), store,
            () -> switches.rollouts().board().state(Verifier.FOREIGN_FILTER_SWITCH).stage()
                != io.keyward.rollout.Stage.OFF,
            RedisForeignFilter.DEFAULT_WINDOW, settings.clock(), registry);
        resources.push(filter);
        foreignFilter = filter;
      }
      verifier = Verifier.builder(format, store)
          .clock(settings.clock())
          .settings(settings.verifier())
          .meterRegistry(registry)
          .secondTier(secondTier)
          .foreignFilter(foreignFilter)
          .rollouts(switches.rollouts())
          .usageSink(usage.sink())
          .build();
      admin = new KeyAdministration(
          format, store, settings.clock(), new KeyIds(settings.clock(), new SecureRandom()),
          verifier::invalidate, foreignFilter);

      RootKeyFile file = new RootKeyFile(dataDir);
      rootKeyFile = file.path();
      file.recoverPending(store, admin);
      createdRootKey = createRootKey(file, console, showRootKey);
      if (databaseUrlWasEmbedded(settings)) {
        LOG.warn("The embedded PostgreSQL trusts every local connection to its port: on a shared"
            + " host, any local user could reach it. Use --db-url for anything but a single-user"
            + " machine.");
      }

      var auth = new RootKeyAuthenticator(verifier);
      var keysApi = new KeysApi(admin, verifier, auth, usage::lastUsed);
      var forwardAuthApi = new io.keyward.server.api.ForwardAuthApi(verifier, settings.clock(),
          registry);
      invalidationsApi = new io.keyward.server.api.InvalidationsApi(auth, verifier,
          settings.clock(), registry);
      resources.push(invalidationsApi);
      var nodesApi = new NodesApi(auth, () -> nodes.liveNodes(), () -> nodes.nodeId());
      nodes = NodeRegistry.start(pool, settings.clock(), "node_" + new KeyIds(settings.clock(),
              new SecureRandom()).next().substring("key_".length()), RELEASE,
          io.keyward.schema.KeywardContracts.currentText(RELEASE), nodeHost(settings), registry);
      resources.push(nodes);
      switches.startSync(nodes.nodeId());
      usage.start(nodes.nodeId());
      var usageApi = usage.api(auth, admin);
      var switchesApi = switches.api(auth, nodes);
      readiness = new Readiness(store::preflight, verifier, settings.clock(), registry,
          List.of(nodes.gate(), switches.store().gate(), usage.gate()));
      readiness.checkNow();
      var systemApi = new SystemApi(registry, readiness::report, () -> fatalReason,
          () -> {
            java.util.Map<String, String> shown = new java.util.TreeMap<>(readiness.gates());
            if (redisStatus != null) {
              shown.put("redis", redisStatus.status());
            }
            shown.putAll(usage.readinessDetails());
            return shown;
          });
      web = HttpListener.start(settings, inFlightCount, routes -> {
        keysApi.register(routes);
        nodesApi.register(routes);
        switchesApi.register(routes);
        usageApi.register(routes);
        forwardAuthApi.register(routes);
        invalidationsApi.register(routes);
        systemApi.register(routes);
      });
      resources.push(web::stop);
      LOG.info("Keyward listening on http://{}:{}", settings.host(), web.port());
    }

    volatile @Nullable String fatalReason;

    /** How other nodes and operators see this one: the machine's name and the port. */
    private static String nodeHost(ServerSettings settings) {
      String machine;
      try {
        machine = java.net.InetAddress.getLocalHost().getHostName();
      } catch (java.io.IOException e) {
        machine = settings.host();
      }
      return machine + ":" + settings.port();
    }

    private static boolean databaseUrlWasEmbedded(ServerSettings settings) {
      return settings.databaseUrl() == null;
    }

    private @Nullable IssuedKey createRootKey(RootKeyFile file, PrintStream console,
        boolean showRootKey) {
      IssuedKey created;
      try {
        created = admin.createRootKeyIfEmpty(file::writePending);
      } catch (RuntimeException e) {
        file.discard();
        throw e;
      }
      if (created == null) {
        file.discard();
        return null;
      }
      file.commit();
      console.println();
      if (showRootKey) {
        // Printed, not logged: the one time the root key is shown. Logs never hold a full key.
        console.println("Created the first root key. It is shown once; keep it secret:");
        console.println();
        console.println("    " + created.secret());
        console.println();
        console.println("Also written to " + file.path() + " (mode 0600).");
      } else {
        console.println("Created the first root key and wrote it to " + file.path()
            + " (mode 0600). It is not printed: standard output is not a terminal.");
      }
      console.println();
      LOG.info("created root key {} ({})", created.record().keyId(), created.record().hint());
      return created;
    }
  }
}
