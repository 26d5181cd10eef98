package io.keyward.examples.servlet;

import io.keyward.client.FailurePolicy;
import io.keyward.client.KeywardVerifier;
import io.keyward.servlet.KeywardFilter;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * A small orders API in an embedded Jetty, behind {@link KeywardFilter}:
 *
 * <ul>
 *   <li>{@code /api/orders}: needs {@code orders:read}; when Keyward cannot be asked, keys seen
 *       VALID in the last 5 minutes still pass ({@code stale-ok:5m}), marked;
 *   <li>{@code /api/payments}: needs {@code payments:write}; closed (503 when Keyward cannot be
 *       asked);
 *   <li>{@code /api/status}: any valid key; open (passes when Keyward cannot be asked, marked);
 *   <li>{@code /health}: no key.
 * </ul>
 *
 * Each protected answer names the key's id and owner and says whether the decision was degraded.
 * {@code examples/servlet/run.sh} starts it against a running {@code ./keyward serve}.
 */
public final class OrdersApp implements AutoCloseable {
  private final Server jetty;
  private final KeywardVerifier verifier;
  private final KeywardFilter filter;

  public OrdersApp(String host, int port, URI keyward, String verifyKey) throws Exception {
    verifier = KeywardVerifier.builder(keyward, verifyKey).timeout(Duration.ofMillis(500))
        .build();
    filter = KeywardFilter.builder(verifier)
        .route("/api/orders", List.of("orders:read"), FailurePolicy.staleOk(Duration.ofMinutes(5)))
        .route("/api/payments", List.of("payments:write"), FailurePolicy.closed())
        .route("/api/status", List.of(), FailurePolicy.open())
        .build();
    jetty = new Server();
    ServerConnector connector = new ServerConnector(jetty);
    connector.setHost(host);
    connector.setPort(port);
    jetty.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
    context.addServlet(new ServletHolder(new Api()), "/api/*");
    context.addServlet(new ServletHolder(new Health()), "/health");
    jetty.setHandler(context);
    jetty.start();
  }

  /** The port it listens on. */
  public int port() {
    return ((ServerConnector) jetty.getConnectors()[0]).getLocalPort();
  }

  public KeywardVerifier verifier() {
    return verifier;
  }

  @Override
  public void close() throws Exception {
    jetty.stop();
    verifier.close();
  }

  /** Answers with what the filter put on the request. */
  static final class Api extends HttpServlet {
    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
        throws IOException {
      String body = "{\"path\":\"" + request.getRequestURI().replace("\"", "") + "\",\"keyId\":\""
          + request.getAttribute(KeywardFilter.KEY_ID) + "\",\"ownerId\":\""
          + String.valueOf(request.getAttribute(KeywardFilter.OWNER_ID)).replace("\"", "")
          + "\",\"basis\":\"" + request.getAttribute(KeywardFilter.BASIS) + "\",\"degraded\":"
          + (request.getAttribute(KeywardFilter.DEGRADED) != null) + "}\n";
      response.setContentType("application/json");
      response.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }
  }

  static final class Health extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response)
        throws IOException {
      response.setContentType("application/json");
      response.getOutputStream().write("{\"status\":\"UP\"}\n".getBytes(StandardCharsets.UTF_8));
    }
  }

  /** {@code OrdersApp [host:port]}: KEYWARD_URL and KEYWARD_VERIFY_KEY from the environment. */
  public static void main(String[] args) throws Exception {
    String listen = args.length > 0 ? args[0] : "127.0.0.1:8070";
    String url = System.getenv().getOrDefault("KEYWARD_URL", "http://127.0.0.1:8080");
    String key = System.getenv("KEYWARD_VERIFY_KEY");
    if (key == null || key.isBlank()) {
      System.err.println("OrdersApp: set KEYWARD_VERIFY_KEY to a key with scope keyward:verify");
      System.exit(2);
    }
    int colon = listen.lastIndexOf(':');
    OrdersApp app = new OrdersApp(listen.substring(0, colon),
        Integer.parseInt(listen.substring(colon + 1)), URI.create(url), key.strip());
    System.err.println("OrdersApp on http://" + listen + "/api/orders (Keyward at " + url + ")");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        app.close();
      } catch (Exception e) {
        // stopping
      }
    }));
    app.jetty.join();
  }
}
