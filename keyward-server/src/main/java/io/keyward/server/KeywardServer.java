package io.keyward.server;

import com.zaxxer.hikari.HikariDataSource;
import io.helidon.http.DirectHandler;
import io.helidon.http.DirectHandler.EventType;
import io.helidon.http.HeaderNames;
import io.helidon.http.HttpException;
import io.helidon.http.ServerResponseHeaders;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.DirectHandlers;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.admin.IssuedKey;
import io.keyward.cache.redis.RedisCacheTier;
import io.keyward.cache.redis.SigningKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyIds;
import io.keyward.server.api.ApiError;
import io.keyward.server.api.Json;
import io.keyward.server.api.KeysApi;
import io.keyward.server.api.SystemApi;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.postgres.ClusterSecrets;
import io.keyward.store.postgres.ConnectionPool;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import io.keyward.store.postgres.PostgresKeyStore;
import io.keyward.verify.CacheTier;
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
import java.util.concurrent.Semaphore;
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

  private final WebServer web;
  private final Verifier verifier;
  private final KeyAdministration admin;
  private final PostgresKeyStore store;
  private final DatabaseUrl databaseUrl;
  private final @Nullable IssuedKey createdRootKey;
  private final Path rootKeyFile;
  private final Deque<AutoCloseable> resources;

  private KeywardServer(Builder b) {
    this.web = b.web;
    this.verifier = b.verifier;
    this.admin = b.admin;
    this.store = b.store;
    this.databaseUrl = b.databaseUrl;
    this.createdRootKey = b.createdRootKey;
    this.rootKeyFile = b.rootKeyFile;
    this.resources = b.resources;
  }

  /**
   * Starts a server. If a root key is created (first start on an empty database), it is printed
   * once to {@code console} and written to {@code <data-dir>/root.key}.
   *
   * @throws IllegalStateException naming what could not be started; everything already started
   *     is stopped again
   */
  public static KeywardServer start(ServerSettings settings, PrintStream console) {
    Builder b = new Builder();
    try {
      b.build(settings, console);
      return new KeywardServer(b);
    } catch (RuntimeException e) {
      closeAll(b.resources);
      throw e;
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
    while (!resources.isEmpty()) {
      AutoCloseable resource = resources.pop();
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

    void build(ServerSettings settings, PrintStream console) {
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
      }
      if (settings.migrateOnStart()) {
        Migrations.migrate(databaseUrl);
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

      CacheTier secondTier = CacheTier.NONE;
      if (settings.redis() != null) {
        byte[] signingKey = new ClusterSecrets(pool, new SecureRandom())
            .getOrCreate(ClusterSecrets.CACHE_SIGNING_KEY);
        RedisCacheTier tier = RedisCacheTier.connect(settings.redis(), SigningKey.of(signingKey),
            settings.clock(), registry);
        resources.push(tier);
        secondTier = tier;
        LOG.info("Redis second cache tier on {}", settings.redis());
      }
      KeyFormat format = KeyFormat.withPrefix(settings.keyPrefix());
      verifier = Verifier.builder(format, store)
          .clock(settings.clock())
          .settings(settings.verifier())
          .meterRegistry(registry)
          .secondTier(secondTier)
          .build();
      admin = new KeyAdministration(
          format, store, settings.clock(), new KeyIds(settings.clock(), new SecureRandom()),
          verifier::invalidate);

      RootKeyFile file = new RootKeyFile(dataDir);
      rootKeyFile = file.path();
      createdRootKey = createRootKey(file, console);
      if (databaseUrlWasEmbedded(settings)) {
        LOG.warn("The embedded PostgreSQL trusts every local connection to its port: on a shared"
            + " host, any local user could reach it. Use --db-url for anything but a single-user"
            + " machine.");
      }

      var auth = new RootKeyAuthenticator(verifier);
      var keysApi = new KeysApi(admin, verifier, auth);
      var systemApi = new SystemApi(registry, new CachedPreflight(store::preflight));
      var inFlight = new Semaphore(settings.maxInFlight());
      web = WebServer.builder()
          .host(settings.host())
          .port(settings.port())
          .maxPayloadSize(settings.maxBodyBytes())
          .shutdownHook(false)
          .errorHandling(e -> e.includeEntity(false).logAllMessages(false))
          .directHandlers(DirectHandlers.builder()
              .addHandler(EventType.BAD_REQUEST, Builder::directError)
              .addHandler(EventType.PAYLOAD_TOO_LARGE, Builder::directError)
              .addHandler(EventType.INTERNAL_ERROR, Builder::directError)
              .addHandler(EventType.OTHER, Builder::directError)
              .build())
          .routing(routing -> {
            routing.addFilter((chain, request, response) -> {
              String path = request.path().path();
              if (path.startsWith("/health/") || path.equals("/metrics")) {
                chain.proceed(); // probes are never shed: an overloaded node is still alive
                return;
              }
              if (!inFlight.tryAcquire()) {
                throw ApiError.tooManyRequests();
              }
              try {
                chain.proceed();
              } finally {
                inFlight.release();
              }
            });
            keysApi.register(routing);
            systemApi.register(routing);
            registerErrorHandlers(routing);
          })
          .build()
          .start();
      resources.push(web::stop);
      LOG.info("Keyward listening on http://{}:{}", settings.host(), web.port());
    }

    private static boolean databaseUrlWasEmbedded(ServerSettings settings) {
      return settings.databaseUrl() == null;
    }

    private @Nullable IssuedKey createRootKey(RootKeyFile file, PrintStream console) {
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
      // Printed, not logged: the one time the root key is shown. Logs never hold a full key.
      console.println();
      console.println("Created the first root key. It is shown once; keep it secret:");
      console.println();
      console.println("    " + created.secret());
      console.println();
      console.println("Also written to " + file.path() + " (mode 0600).");
      console.println();
      LOG.info("created root key {} ({})", created.record().keyId(), created.record().hint());
      return created;
    }

    private static void registerErrorHandlers(HttpRouting.Builder routing) {
      routing
          .error(ApiError.class, (request, response, error) -> sendError(response, error))
          .error(HttpException.class, (request, response, error) ->
              sendError(response, error.status(), codeOf(error.status()), error.status().reasonPhrase()))
          .error(Throwable.class, (request, response, error) -> {
            LOG.error("unexpected failure serving {} {}", request.prologue().method().text(),
                request.path().path(), error);
            sendError(response, Status.INTERNAL_SERVER_ERROR_500, "INTERNAL", "internal error");
          });
    }

    private static void sendError(ServerResponse response, ApiError error) {
      if (error.status().code() == 401) {
        response.header(HeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"keyward\"");
      }
      if (error.retryAfterSeconds() > 0) {
        response.header(HeaderNames.RETRY_AFTER, Integer.toString(error.retryAfterSeconds()));
      }
      sendError(response, error.status(), error.code(), error.getMessage());
    }

    private static void sendError(ServerResponse response, Status status, String code, String message) {
      response.status(status);
      response.header(HeaderNames.CONTENT_TYPE, "application/json");
      response.send(Json.error(code, message));
    }

    private static String codeOf(Status status) {
      return switch (status.code()) {
        case 400 -> "BAD_REQUEST";
        case 404 -> "NOT_FOUND";
        case 405 -> "METHOD_NOT_ALLOWED";
        case 413 -> "PAYLOAD_TOO_LARGE";
        case 415 -> "UNSUPPORTED_MEDIA_TYPE";
        case 503 -> "UNAVAILABLE";
        default -> "HTTP_" + status.code();
      };
    }

    private static DirectHandler.TransportResponse directError(
        DirectHandler.TransportRequest request, EventType type, Status status,
        ServerResponseHeaders headers, String message) {
      String text = switch (status.code()) {
        case 413 -> "request body is larger than the server accepts";
        case 503 -> "server is overloaded; retry";
        case 500 -> "internal error";
        default -> "malformed HTTP request";
      };
      return DirectHandler.TransportResponse.builder()
          .status(status)
          .headers(headers)
          .header(HeaderNames.CONTENT_TYPE, "application/json")
          .entity(Json.error(codeOf(status), text))
          .build();
    }
  }
}
