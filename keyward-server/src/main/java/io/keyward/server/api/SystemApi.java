package io.keyward.server.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
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
  private final Supplier<@Nullable String> readinessProblem;
  private final byte[] openApi;

  /**
   * @param readinessProblem null when ready, else why not (the schema preflight's finding)
   */
  public SystemApi(PrometheusMeterRegistry registry, Supplier<@Nullable String> readinessProblem) {
    this.registry = registry;
    this.readinessProblem = readinessProblem;
    this.openApi = loadOpenApi();
  }

  public void register(HttpRouting.Builder routing) {
    routing
        .get("/health/live", this::live)
        .get("/health/ready", this::ready)
        .get("/metrics", this::metrics)
        .get("/openapi.json", this::openApi);
  }

  private void live(ServerRequest request, ServerResponse response) {
    KeysApi.send(response, Status.OK_200, UP);
  }

  private void ready(ServerRequest request, ServerResponse response) {
    String problem = readinessProblem.get();
    if (problem == null) {
      KeysApi.send(response, Status.OK_200, UP);
    } else {
      response.header(HeaderNames.RETRY_AFTER, "1");
      KeysApi.send(response, Status.SERVICE_UNAVAILABLE_503,
          Json.write(java.util.Map.of("status", "DOWN", "problem", problem)));
    }
  }

  private void metrics(ServerRequest request, ServerResponse response) {
    response.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    response.send(registry.scrape().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  private void openApi(ServerRequest request, ServerResponse response) {
    KeysApi.send(response, Status.OK_200, openApi);
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
