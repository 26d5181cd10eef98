package io.keyward.examples.helidon;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.client.FailurePolicy;
import io.keyward.client.KeywardVerifier;
import io.keyward.helidon.KeywardHelidonFilter;
import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * A small orders API on Helidon SE 4, behind {@link KeywardHelidonFilter}: the same three routes
 * as the servlet example ({@code /api/orders} stale-ok 5 min with {@code orders:read},
 * {@code /api/payments} closed with {@code payments:write}, {@code /api/status} open) and
 * {@code /health} without a key. {@code examples/helidon/run.sh} starts it against a running
 * {@code ./keyward serve}.
 */
public final class OrdersApp implements AutoCloseable {
  private final WebServer server;
  private final KeywardVerifier verifier;

  public OrdersApp(String host, int port, URI keyward, String verifyKey) {
    verifier = KeywardVerifier.builder(keyward, verifyKey).timeout(Duration.ofMillis(500))
        .build();
    KeywardHelidonFilter filter = KeywardHelidonFilter.builder(verifier)
        .route("/api/orders", List.of("orders:read"), FailurePolicy.staleOk(Duration.ofMinutes(5)))
        .route("/api/payments", List.of("payments:write"), FailurePolicy.closed())
        .route("/api/status", List.of(), FailurePolicy.open())
        .build();
    server = WebServer.builder().host(host).port(port)
        .routing(routing -> routing.addFilter(filter)
            .get("/api/*", OrdersApp::api)
            .get("/health", (request, response) -> {
              response.header(HeaderNames.CONTENT_TYPE, "application/json");
              response.send("{\"status\":\"UP\"}\n");
            }))
        .build().start();
  }

  private static void api(ServerRequest request, ServerResponse response) {
    KeywardHelidonFilter.Identity who = request.context()
        .get(KeywardHelidonFilter.Identity.class).orElse(null);
    response.header(HeaderNames.CONTENT_TYPE, "application/json");
    response.send("{\"path\":\"" + request.path().path().replace("\"", "") + "\",\"keyId\":\""
        + (who == null ? "" : who.keyId()) + "\",\"ownerId\":\""
        + (who == null ? "" : who.ownerId().replace("\"", "")) + "\",\"basis\":\""
        + (who == null ? "" : who.basis()) + "\",\"degraded\":"
        + (who != null && who.degraded()) + "}\n");
  }

  public int port() {
    return server.port();
  }

  public KeywardVerifier verifier() {
    return verifier;
  }

  @Override
  public void close() {
    server.stop();
    verifier.close();
  }

  /** {@code OrdersApp [host:port]}: KEYWARD_URL and KEYWARD_VERIFY_KEY from the environment. */
  public static void main(String[] args) {
    String listen = args.length > 0 ? args[0] : "127.0.0.1:8071";
    String url = System.getenv().getOrDefault("KEYWARD_URL", "http://127.0.0.1:8080");
    String key = System.getenv("KEYWARD_VERIFY_KEY");
    if (key == null || key.isBlank()) {
      System.err.println("OrdersApp: set KEYWARD_VERIFY_KEY to a key with scope keyward:verify");
      System.exit(2);
    }
    int colon = listen.lastIndexOf(':');
    OrdersApp app = new OrdersApp(listen.substring(0, colon),
        Integer.parseInt(listen.substring(colon + 1)), URI.create(url), key.strip());
    System.err.println("OrdersApp (Helidon) on http://" + listen + "/api/orders (Keyward at "
        + url + ")");
    Runtime.getRuntime().addShutdownHook(new Thread(app::close));
    try {
      new java.util.concurrent.CountDownLatch(1).await(); // until the process is stopped
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
