package io.keyward.server.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.server.Readiness;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/** Health, metrics and the OpenAPI description: unauthenticated, read-only. */
public final class SystemApi {
  /** Where the OpenAPI document is kept on the class path. */
  public static final String OPENAPI_RESOURCE = "/io/keyward/server/openapi.json";

  /** The answer of a healthy probe, written once: {@code /health/live} does no work per call. */
  private static final byte[] UP = Json.write(java.util.Map.of("status", "UP"));

  private final PrometheusMeterRegistry registry;
  private final Supplier<Readiness.Report> readiness;
  private final Supplier<@Nullable String> fatal;
  private final Supplier<java.util.Map<String, String>> gates;
  private final byte[] openApi;

  /**
   * @param readiness the node's readiness, asked on every probe (it must not block)
   * @param fatal why the node can no longer work (liveness fails), or null while it can
   */
  public SystemApi(PrometheusMeterRegistry registry, Supplier<Readiness.Report> readiness,
      Supplier<@Nullable String> fatal) {
    this(registry, readiness, fatal, java.util.Map::of);
  }

  /** @param gates each gated code path and whether it is on, shown by {@code /health/ready} */
  public SystemApi(PrometheusMeterRegistry registry, Supplier<Readiness.Report> readiness,
      Supplier<@Nullable String> fatal, Supplier<java.util.Map<String, String>> gates) {
    this.gates = gates;
    this.registry = registry;
    this.readiness = readiness;
    this.fatal = fatal;
    this.openApi = loadOpenApi();
  }

  public void register(RouteTable routing) {
    routing
        .get("/health/live", this::live)
        .get("/health/ready", this::ready)
        .get("/metrics", this::metrics)
        .get("/openapi.json", this::openApi);
  }

  private void live(ServerRequest request, ServerResponse response) {
    String reason = fatal.get();
    if (reason == null) {
      Responses.send(request, response, Status.OK_200, UP);
    } else {
      Responses.send(request, response, Status.SERVICE_UNAVAILABLE_503,
          Json.write(java.util.Map.of("status", "DOWN", "reason", "embedded database stopped")));
    }
  }

  private void ready(ServerRequest request, ServerResponse response) {
    Readiness.Report report = readiness.get();
    java.util.Map<String, Object> body = new java.util.LinkedHashMap<>();
    body.put("status", switch (report.state()) {
      case READY -> "UP";
      case DEGRADED -> "DEGRADED";
      case NOT_READY -> "DOWN";
    });
    if (report.reason() != null) {
      body.put("reason", report.reason());
    }
    body.put("gates", gates.get());
    if (report.state() == Readiness.State.NOT_READY) {
      response.header(HeaderNames.RETRY_AFTER, "1");
      Responses.send(request, response, Status.SERVICE_UNAVAILABLE_503, Json.write(body));
    } else {
      Responses.send(request, response, Status.OK_200, Json.write(body));
    }
  }

  private void metrics(ServerRequest request, ServerResponse response) {
    response.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    Responses.sendBytes(request, response,
        registry.scrape().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  private void openApi(ServerRequest request, ServerResponse response) {
    Responses.send(request, response, Status.OK_200, openApi);
  }

  private static byte[] loadOpenApi() {
    try (InputStream in = SystemApi.class.getResourceAsStream(OPENAPI_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(OPENAPI_RESOURCE + " is missing from the build");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
