package io.keyward.server;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.testing.TcpProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The shipped gateway examples ({@code examples/nginx}, {@code examples/caddy}), run as their
 * README runs them ({@code run.sh}), with the Debian packages' nginx and Caddy on free loopback
 * ports, in front of an upstream this test runs, and a real Keyward behind a proxy that can be
 * cut: allow (the identity reaches the upstream, a client's forged identity does not), deny,
 * missing scope, no key, garbage headers, Keyward unreachable and Keyward unable to decide.
 * {@code .ci/run} installs nginx and Caddy; elsewhere a missing one skips its case, saying so.
 */
class GatewayExamplesTest {
  private static KeywardTestServer keyward;
  private static TcpProxy toKeyward;
  private static HttpServer upstream;
  private static final Map<String, Map<String, String>> seenUpstream = new ConcurrentHashMap<>();
  private static final AtomicInteger upstreamCalls = new AtomicInteger();
  private static String gatewayKey;
  private static String readKey;
  private static String readKeyId;
  private static String writeOnlyKey;
  private static String revokedKey;

  @BeforeAll
  static void start() throws IOException {
    keyward = KeywardTestServer.start();
    toKeyward = TcpProxy.to(keyward.server().port());
    KeywardClient client = keyward.client();
    gatewayKey = client.createKey(Map.of("name", "gateway", "ownerId", "ops",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    JsonNode read = client.createKey(Map.of("name", "r", "ownerId", "acct_1",
        "scopes", List.of("orders:read"))).body();
    readKey = read.get("key").asText();
    readKeyId = read.get("keyId").asText();
    writeOnlyKey = client.createKey(Map.of("name", "w", "ownerId", "acct_2",
        "scopes", List.of("orders:write"))).body().get("key").asText();
    JsonNode revoked = client.createKey(Map.of("name", "x", "ownerId", "acct_3")).body();
    revokedKey = revoked.get("key").asText();
    client.revokeKey(revoked.get("keyId").asText());

    upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    upstream.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    upstream.createContext("/", exchange -> {
      upstreamCalls.incrementAndGet();
      Map<String, String> headers = new HashMap<>();
      exchange.getRequestHeaders().forEach((name, values) ->
          headers.put(name.toLowerCase(Locale.ROOT), String.join(",", values)));
      String marker = exchange.getRequestHeaders().getFirst("X-Test-Request");
      if (marker != null) {
        seenUpstream.put(marker, headers);
      }
      byte[] body = "{\"upstream\":true}".getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    upstream.start();
  }

  @AfterAll
  static void stop() {
    if (upstream != null) {
      upstream.stop(0);
    }
    if (toKeyward != null) {
      toKeyward.close();
    }
    if (keyward != null) {
      keyward.close();
    }
  }

  private static Path examples() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("examples/nginx"))) {
      dir = dir.getParent();
    }
    assertThat(dir).as("the repository's examples/ directory").isNotNull();
    return dir.resolve("examples");
  }

  private static boolean installed(String gateway) {
    String binary = gateway.equals("nginx") ? "/usr/sbin/nginx" : "/usr/bin/caddy";
    boolean found = Files.isExecutable(Path.of(binary));
    if (!found && "true".equals(System.getenv("CI"))) {
      throw new AssertionError(binary + " is missing: .ci/run installs it (apt-get install -y "
          + gateway + ")");
    }
    return found;
  }

  /** A gateway started by its example's run.sh; stopped (with its children) on close. */
  private record Gateway(Process process, int port, Path log) implements AutoCloseable {
    @Override
    public void close() {
      process.descendants().forEach(ProcessHandle::destroy);
      process.destroy();
      try {
        process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
  }

  private static Gateway startGateway(String name) throws IOException {
    int port = TcpProxy.freePort();
    Path log = Files.createTempFile("keyward-" + name, ".log");
    ProcessBuilder builder = new ProcessBuilder("bash", examples().resolve(name + "/run.sh")
        .toString()).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("LISTEN_ADDR", "127.0.0.1:" + port);
    builder.environment().put("KEYWARD_ADDR", "127.0.0.1:" + toKeyward.port());
    builder.environment().put("UPSTREAM_ADDR", "127.0.0.1:" + upstream.getAddress().getPort());
    builder.environment().put("EXAMPLE_UPSTREAM_ADDR", "127.0.0.1:" + TcpProxy.freePort());
    builder.environment().put("KEYWARD_GATEWAY_KEY", gatewayKey);
    Gateway gateway = new Gateway(builder.start(), port, log);
    try {
      await(() -> {
        if (!gateway.process().isAlive()) {
          throw new AssertionError(name + " stopped: " + read(log));
        }
        try (Socket probe = new Socket("127.0.0.1", port)) {
          return true;
        } catch (IOException notYet) {
          return false;
        }
      });
    } catch (RuntimeException | AssertionError e) {
      gateway.close();
      throw e;
    }
    return gateway;
  }

  private static String read(Path log) {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(its log cannot be read: " + e + ")";
    }
  }

  /** One answer from the gateway: status, headers (lower-case names), body. */
  record Answer(int status, Map<String, String> headers, String body) {}

  private static Answer get(int port, String path, String... headerLines) throws IOException {
    StringBuilder request = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: api.test\r\n"
        + "Connection: close\r\n");
    for (String line : headerLines) {
      request.append(line).append("\r\n");
    }
    request.append("\r\n");
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(15_000);
      socket.getOutputStream().write(request.toString().getBytes(StandardCharsets.ISO_8859_1));
      ByteArrayOutputStream read = new ByteArrayOutputStream();
      InputStream in = socket.getInputStream();
      in.transferTo(read);
      String text = read.toString(StandardCharsets.ISO_8859_1);
      int split = text.indexOf("\r\n\r\n");
      String[] head = text.substring(0, split < 0 ? text.length() : split).split("\r\n");
      Map<String, String> headers = new HashMap<>();
      for (int i = 1; i < head.length; i++) {
        int colon = head[i].indexOf(':');
        if (colon > 0) {
          headers.merge(head[i].substring(0, colon).strip().toLowerCase(Locale.ROOT),
              head[i].substring(colon + 1).strip(), (a, b) -> a + "," + b);
        }
      }
      return new Answer(Integer.parseInt(head[0].substring(9, 12)), headers,
          split < 0 ? "" : text.substring(split + 4));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"nginx", "caddy"})
  void theExampleAllowsDeniesAndSays503WhenKeywardCannotDecide(String name) throws Exception {
    Assumptions.assumeTrue(installed(name), name + " is not installed: apt-get install -y "
        + name);
    try (Gateway gateway = startGateway(name)) {
      int port = gateway.port();

      // Allowed: the upstream gets the key's identity, not the client's forgery, and never the
      // gateway's own key.
      String marker = name + "-allow";
      Answer allowed = get(port, "/api/orders", "Authorization: Bearer " + readKey,
          "Keyward-Key-Id: key_forged", "Keyward-Owner-Id: someone_else",
          "X-Test-Request: " + marker);
      assertThat(allowed.status()).as(allowed.toString()).isEqualTo(200);
      assertThat(allowed.body()).as(allowed.toString()).contains("\"upstream\":true");
      Map<String, String> seen = seenUpstream.get(marker);
      assertThat(seen.get("keyward-key-id")).isEqualTo(readKeyId);
      assertThat(seen.get("keyward-owner-id")).isEqualTo("acct_1");
      assertThat(seen.get("keyward-scopes")).isEqualTo("orders:read");
      assertThat(String.valueOf(seen.get("keyward-authorization"))).doesNotContain(gatewayKey);

      // A client cannot choose Keyward's settings: its own Keyward-Key-Header and
      // Keyward-Required-Scopes are removed by the gateway.
      assertThat(get(port, "/api/orders", "Authorization: Bearer " + readKey,
          "Keyward-Key-Header: X-Nothing", "Keyward-Required-Scopes: bad*scope").status())
          .isEqualTo(200);

      // Denied, before the upstream.
      int calls = upstreamCalls.get();
      Answer none = get(port, "/api/orders");
      assertThat(none.status()).isEqualTo(401);
      assertThat(none.headers().get("www-authenticate")).startsWith("Bearer realm=\"keyward\"");
      for (String bad : List.of(revokedKey, readKey.substring(0, readKey.length() - 4) + "AAAA",
          "not-a-key")) {
        Answer denied = get(port, "/api/orders", "Authorization: Bearer " + bad);
        assertThat(denied.status()).as(bad).isEqualTo(401);
        assertThat(denied.headers().get("www-authenticate")).contains("invalid_token");
      }
      Answer scope = get(port, "/api/orders", "Authorization: Bearer " + writeOnlyKey);
      assertThat(scope.status()).isEqualTo(403);
      assertThat(scope.headers().get("www-authenticate")).contains("insufficient_scope");
      assertThat(upstreamCalls.get()).as("denied requests reach no upstream").isEqualTo(calls);

      // Garbage in the client's headers: a clean 4xx, never a 500 or a 503.
      Random random = new Random(5);
      List<Integer> statuses = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        StringBuilder value = new StringBuilder();
        for (int n = random.nextInt(300); n > 0; n--) {
          int c = 0x20 + random.nextInt(0xff - 0x20);
          value.append((char) (c == 0x7f ? 'x' : c));
        }
        Answer garbage = get(port, "/api/orders", (i % 2 == 0 ? "Authorization: Bearer "
            : "Authorization: ") + value);
        statuses.add(garbage.status());
        assertThat(garbage.status()).as("garbage %s", value).isIn(400, 401);
      }
      assertThat(statuses).contains(401);

      // Keyward reachable but unable to decide (a key it has not cached, its store refusing).
      String uncached = keyward.client().createKey(Map.of("name", "u", "ownerId", "acct_4",
          "scopes", List.of("orders:read"))).body().get("key").asText();
      keyward.database().refuseAndKillConnections();
      try {
        Answer undecided = get(port, "/api/orders", "Authorization: Bearer " + uncached);
        assertThat(undecided.status()).isEqualTo(503);
        assertThat(undecided.headers().get("retry-after")).isEqualTo("1");
        // A cached key still passes while the store is down.
        assertThat(get(port, "/api/orders", "Authorization: Bearer " + readKey).status())
            .isEqualTo(200);
      } finally {
        keyward.database().restore();
      }

      // Keyward unreachable: 503, never 401.
      int keywardPort = toKeyward.port();
      toKeyward.stop();
      try {
        Answer down = get(port, "/api/orders", "Authorization: Bearer " + readKey);
        assertThat(down.status()).as(down.toString()).isEqualTo(503);
        assertThat(down.headers().get("retry-after")).isEqualTo("1");
        assertThat(down.body()).contains("UNAVAILABLE");
      } finally {
        toKeyward = TcpProxy.on(keywardPort, keyward.server().port());
      }
      assertThat(get(port, "/api/orders", "Authorization: Bearer " + readKey).status())
          .isEqualTo(200);
    }
  }
}
