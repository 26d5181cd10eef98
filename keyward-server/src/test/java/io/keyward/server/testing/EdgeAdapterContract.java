package io.keyward.server.testing;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.client.admin.KeywardClient;
import io.keyward.testing.TcpProxy;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What every Java adapter (the servlet filter, the Helidon filter, the Spring starter) must do,
 * run against each one's example application: a real server in front of a real Keyward reached
 * through a proxy the test can cut. Allow with the identity on the request, 401 and 403 with
 * challenges, each route's failure policy with Keyward stopped, answering 500, answering garbage
 * or too slow (marked and counted), and I-5 at the edge: 100,000 random and malformed header
 * values, not one 500.
 *
 * <p>The example applications serve the same routes: {@code /api/orders} ({@code orders:read},
 * {@code stale-ok:5m}), {@code /api/payments} ({@code payments:write}, closed), {@code
 * /api/status} (any key, open) and {@code /health} (no key); a protected answer is JSON naming
 * {@code keyId}, {@code ownerId}, {@code basis} and {@code degraded}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class EdgeAdapterContract {
  /** An example application, started in front of Keyward. */
  public interface App extends AutoCloseable {
    /** The port it listens on (127.0.0.1). */
    int port();

    /** Whether its verifier may be missing revocations (its stream is not connected). */
    boolean unsynced();

    /** How many stale decisions its verifier has made. */
    long staleAllowed();

    /** How many open decisions its verifier has made. */
    long openAllowed();

    /** An app from its parts (its verifier's stats, read through these). */
    static App of(java.util.function.IntSupplier port, java.util.function.BooleanSupplier unsynced,
        java.util.function.LongSupplier staleAllowed, java.util.function.LongSupplier openAllowed,
        AutoCloseable close) {
      return new App() {
        @Override
        public int port() {
          return port.getAsInt();
        }

        @Override
        public boolean unsynced() {
          return unsynced.getAsBoolean();
        }

        @Override
        public long staleAllowed() {
          return staleAllowed.getAsLong();
        }

        @Override
        public long openAllowed() {
          return openAllowed.getAsLong();
        }

        @Override
        public void close() throws Exception {
          close.close();
        }
      };
    }
  }

  /** Starts the example application against Keyward at {@code keyward}. */
  protected abstract App start(URI keyward, String verifyKey) throws Exception;

  private KeywardTestServer keyward;
  private TcpProxy toKeyward;
  private App app;
  private String readKey;
  private String readKeyId;
  private String payKey;

  @BeforeAll
  void startKeywardAndTheApp() throws Exception {
    keyward = KeywardTestServer.start();
    toKeyward = TcpProxy.to(keyward.server().port());
    KeywardClient admin = keyward.client();
    String verifyKey = admin.createKey(Map.of("name", "app", "ownerId", "svc",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    JsonNode read = admin.createKey(Map.of("name", "r", "ownerId", "acct_1",
        "scopes", List.of("orders:read"))).body();
    readKey = read.get("key").asText();
    readKeyId = read.get("keyId").asText();
    payKey = admin.createKey(Map.of("name", "p", "ownerId", "acct_2",
        "scopes", List.of("payments:write"))).body().get("key").asText();
    app = start(URI.create("http://127.0.0.1:" + toKeyward.port()), verifyKey);
    await(() -> !app.unsynced());
  }

  @AfterAll
  void stop() throws Exception {
    // Whatever started (a start that failed half-way must not hide its cause behind a null).
    if (app != null) {
      app.close();
    }
    if (toKeyward != null) {
      toKeyward.close();
    }
    if (keyward != null) {
      keyward.close();
    }
  }

  record Answer(int status, Map<String, String> headers, String body) {}

  /**
   * One request on a connection of its own, read by its length (Helidon answers {@code
   * Connection: close} without closing at once, so reading to the end would wait).
   */
  private Answer get(String path, String... headerLines) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", app.port())) {
      socket.setSoTimeout(10_000);
      OutputStream out = socket.getOutputStream();
      out.write(request(path, false, headerLines));
      out.flush();
      InputStream in = new BufferedInputStream(socket.getInputStream());
      String status = line(in);
      Map<String, String> headers = new HashMap<>();
      int length = 0;
      boolean chunked = false;
      for (String header; !(header = line(in)).isEmpty(); ) {
        int colon = header.indexOf(':');
        String name = header.substring(0, colon).strip().toLowerCase(Locale.ROOT);
        String value = header.substring(colon + 1).strip();
        headers.put(name, value);
        if (name.equals("content-length")) {
          length = Integer.parseInt(value);
        } else if (name.equals("transfer-encoding") && value.contains("chunked")) {
          chunked = true;
        }
      }
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      if (chunked) {
        for (int size; (size = Integer.parseInt(line(in).strip(), 16)) > 0; ) {
          body.write(in.readNBytes(size));
          in.readNBytes(2);
        }
      } else {
        body.write(in.readNBytes(length));
      }
      return new Answer(Integer.parseInt(status.substring(9, 12)), headers,
          body.toString(StandardCharsets.ISO_8859_1));
    }
  }

  private static byte[] request(String path, boolean close, String... headerLines) {
    StringBuilder request = new StringBuilder("GET " + path + " HTTP/1.1\r\nHost: app\r\n");
    if (close) {
      request.append("Connection: close\r\n");
    }
    for (String line : headerLines) {
      request.append(line).append("\r\n");
    }
    return request.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
  }

  @Test
  void aValidKeyPassesWithItsIdentityAndRefusalsAre401Or403WithAChallenge() throws IOException {
    Answer ok = get("/api/orders", "Authorization: Bearer " + readKey);
    assertThat(ok.status()).isEqualTo(200);
    assertThat(ok.body()).contains("\"keyId\":\"" + readKeyId + "\"")
        .contains("\"ownerId\":\"acct_1\"").contains("\"basis\":\"CONFIRMED\"")
        .contains("\"degraded\":false");

    Answer none = get("/api/orders");
    assertThat(none.status()).isEqualTo(401);
    assertThat(none.headers().get("www-authenticate")).isEqualTo("Bearer realm=\"keyward\"");
    assertThat(none.body()).contains("UNAUTHORIZED");

    Answer bad = get("/api/orders", "Authorization: Bearer kw_live_1" + "x".repeat(39));
    assertThat(bad.status()).isEqualTo(401);
    assertThat(bad.headers().get("www-authenticate")).contains("invalid_token");

    Answer scope = get("/api/orders", "Authorization: Bearer " + payKey);
    assertThat(scope.status()).isEqualTo(403);
    assertThat(scope.headers().get("www-authenticate")).contains("insufficient_scope")
        .contains("orders:read");

    Answer twice = get("/api/orders", "Authorization: Bearer " + readKey,
        "Authorization: Bearer " + readKey);
    assertThat(twice.status()).isEqualTo(401);
    assertThat(twice.headers().get("www-authenticate")).contains("invalid_request");

    assertThat(get("/health").status()).as("no route, no key needed").isEqualTo(200);
    // The route is matched on the path the server routes by, not the raw one: an encoded,
    // parameterised or dotted spelling of a protected path is protected too.
    for (String spelling : List.of("/api/%70ayments", "/api;x/payments", "/health/../api/payments",
        "/api//payments")) {
      assertThat(get(spelling).status()).as(spelling).isIn(400, 401, 404);
      assertThat(get(spelling).body()).as(spelling + ": never the application's answer")
          .doesNotContain("\"keyId\"");
    }
  }

  /**
   * What answers in Keyward's place while a fault is on: nothing ({@code stopped}), a 500 to
   * everything, a 200 with garbage for a body, or an answer only after 3 s ({@code slow}, beyond
   * every example's 500 ms timeout).
   */
  /** A server in Keyward's place; closing it closes every connection it accepted too. */
  private record Fault(java.net.ServerSocket server, java.util.Set<Socket> accepted)
      implements AutoCloseable {
    @Override
    public void close() throws IOException {
      server.close();
      for (Socket socket : accepted) {
        socket.close();
      }
    }
  }

  private static Fault fault(String kind) throws IOException {
    java.net.ServerSocket server = new java.net.ServerSocket(0, 50,
        java.net.InetAddress.getLoopbackAddress());
    java.util.Set<Socket> accepted = java.util.concurrent.ConcurrentHashMap.newKeySet();
    Thread.ofVirtual().start(() -> {
      while (!server.isClosed()) {
        Socket socket;
        try {
          socket = server.accept();
        } catch (IOException closed) {
          return;
        }
        accepted.add(socket);
        Thread.ofVirtual().start(() -> answer(kind, socket));
      }
    });
    return new Fault(server, accepted);
  }

  /** Answers every request on {@code socket} as the fault {@code kind} says. */
  private static void answer(String kind, Socket socket) {
    try (socket) {
      InputStream in = new BufferedInputStream(socket.getInputStream());
      OutputStream out = socket.getOutputStream();
      while (true) {
        int length = 0;
        String first = line(in);
        for (String header; !(header = line(in)).isEmpty(); ) {
          if (header.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
            length = Integer.parseInt(header.substring(15).strip());
          }
        }
        in.readNBytes(length);
        String response = switch (kind) {
          case "500" -> "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
          case "garbage" -> {
            String body = "\u0000{\"valid\":tru\u00ff<html>";
            yield "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length() + "\r\n\r\n" + body;
          }
          default -> { // slow
            Thread.sleep(3_000);
            yield "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
          }
        };
        out.write(response.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
        if (first.isEmpty()) {
          return;
        }
      }
    } catch (IOException | RuntimeException e) {
      // the client went away
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "Keyward {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"stopped", "500", "garbage", "slow"})
  void withKeywardAwayEachRouteAnswersAsItsPolicySaysMarkedAndCounted(String kind)
      throws Exception {
    assertThat(get("/api/orders", "Authorization: Bearer " + readKey).status()).isEqualTo(200);
    assertThat(get("/api/payments", "Authorization: Bearer " + payKey).status()).isEqualTo(200);
    // The verifier's own fresh window would answer from its cache: leave it by unsyncing (the
    // cut ends the invalidation stream, and nothing in Keyward's place serves a new one). The
    // faults other than "stopped" are a server the proxy now sends connections to.
    int port = toKeyward.port();
    Fault inItsPlace = null;
    if (kind.equals("stopped")) {
      toKeyward.stop();
    } else {
      inItsPlace = fault(kind);
      toKeyward.retarget(inItsPlace.server().getLocalPort());
    }
    try {
      await(() -> app.unsynced());
      Thread.sleep(2_100); // past the unsynced fresh window (2 s): Keyward must be asked
      long stale = app.staleAllowed();
      long open = app.openAllowed();

      Answer orders = get("/api/orders", "Authorization: Bearer " + readKey);
      assertThat(orders.status()).as("stale-ok").isEqualTo(200);
      assertThat(orders.body()).contains("\"basis\":\"STALE\"").contains("\"degraded\":true");

      Answer payments = get("/api/payments", "Authorization: Bearer " + payKey);
      assertThat(payments.status()).as("closed: 503, never 401").isEqualTo(503);
      assertThat(payments.headers().get("retry-after")).isEqualTo("1");

      String unknown = "kw_live_1" + kind.charAt(0) + "z".repeat(38);
      Answer status = get("/api/status", "Authorization: Bearer " + unknown);
      assertThat(status.status()).as("open").isEqualTo(200);
      assertThat(status.body()).contains("\"basis\":\"OPEN\"").contains("\"degraded\":true");

      assertThat(app.staleAllowed()).isEqualTo(stale + 1);
      assertThat(app.openAllowed()).isEqualTo(open + 1);
    } finally {
      if (inItsPlace != null) {
        toKeyward.retarget(keyward.server().port());
        inItsPlace.close();
      } else {
        toKeyward = TcpProxy.on(port, keyward.server().port());
      }
    }
    await(() -> !app.unsynced());
    // The verifier's breaker, opened by the failures, lets a probe through within a second;
    // its success closes it. Until then a closed route still answers 503, as it should.
    await(() -> statusOf("/api/payments", payKey) == 200);
  }

  private int statusOf(String path, String key) {
    try {
      return get(path, "Authorization: Bearer " + key).status();
    } catch (IOException e) {
      return -1;
    }
  }

  @Test
  void aHundredThousandRandomAndMalformedHeaderValuesGetACleanAnswerAndNever500() throws Exception {
    int connections = 8;
    java.util.concurrent.ConcurrentHashMap<Integer, Integer> statuses =
        new java.util.concurrent.ConcurrentHashMap<>();
    java.util.concurrent.ExecutorService pool =
        java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
    List<java.util.concurrent.Future<?>> senders = new java.util.ArrayList<>();
    for (int c = 0; c < connections; c++) {
      int seed = 2026 + c;
      senders.add(pool.submit(() -> {
        send(new Random(seed), 100_000 / connections, statuses);
        return null;
      }));
    }
    for (java.util.concurrent.Future<?> sender : senders) {
      sender.get();
    }
    pool.shutdown();
    System.out.println(getClass().getSimpleName() + ": 100,000 header values, statuses " + new TreeMap<>(statuses));
    assertThat(statuses.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(100_000);
    assertThat(statuses.keySet()).as("statuses seen: %s", statuses)
        .allMatch(s -> s == 400 || s == 401 || s == 431 || s == -1);
    assertThat(statuses.getOrDefault(401, 0)).isGreaterThan(50_000);
  }

  /** {@code count} requests on keep-alive connections, each with a random Authorization value. */
  private void send(Random random, int count, Map<Integer, Integer> statuses)
      throws IOException {
    Socket socket = null;
    InputStream in = null;
    OutputStream out = null;
    try {
      for (int i = 0; i < count; i++) {
        if (socket == null) {
          socket = new Socket("127.0.0.1", app.port());
          socket.setSoTimeout(10_000);
          in = new BufferedInputStream(socket.getInputStream());
          out = socket.getOutputStream();
        }
        // Mostly what the filter and the verifier judge locally; one in twenty key-shaped, which
        // Keyward itself judges (each a request to it, as a flood of made-up keys would be).
        String value = switch (i % 20) {
          case 0 -> "Bearer kw_live_1" + bytes(random, 0x21, 0x7e, 39);       // key-shaped
          case 1, 2, 3, 4, 5, 6 -> "Bearer " + bytes(random, 0x20, 0xff, 300); // binary
          case 7, 8, 9, 10, 11, 12 -> bytes(random, 0x20, 0x7e, 60);          // no scheme
          default -> "Bearer " + "A".repeat(4_097 + random.nextInt(2_000));   // too long
        };
        out.write(request("/api/orders", false, "Authorization: " + value));
        out.flush();
        int status;
        boolean closing = false;
        try {
          status = readResponse(in);
          closing = status >= CLOSING;
          status %= CLOSING;
        } catch (IOException closed) {
          status = -1; // the connection was closed (a server may close after a 400): count, reconnect
        }
        statuses.merge(status, 1, Integer::sum);
        if (closing || status < 0 || status == 400 || status == 431) {
          socket.close();
          socket = null;
        }
      }
    } finally {
      if (socket != null) {
        socket.close();
      }
    }
  }

  private static String bytes(Random random, int from, int to, int maxLength) {
    StringBuilder value = new StringBuilder();
    for (int n = random.nextInt(maxLength + 1); n > 0; n--) {
      char c = (char) (from + random.nextInt(to - from + 1));
      value.append(c == 0x7f ? 'x' : c);
    }
    return value.toString();
  }

  /** Added to a status by {@link #readResponse} when the server closes the connection after it. */
  private static final int CLOSING = 1000;

  /**
   * Reads one response (Content-Length or chunked), returns its status, plus {@link #CLOSING}
   * when it says {@code Connection: close} (Tomcat does after 100 requests on a connection).
   */
  private static int readResponse(InputStream in) throws IOException {
    String status = line(in);
    int code = Integer.parseInt(status.substring(9, 12));
    int length = -1;
    boolean chunked = false;
    for (String header; !(header = line(in)).isEmpty(); ) {
      String lower = header.toLowerCase(Locale.ROOT);
      if (lower.startsWith("content-length:")) {
        length = Integer.parseInt(lower.substring(15).strip());
      } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
        chunked = true;
      } else if (lower.startsWith("connection:") && lower.contains("close")) {
        code += CLOSING;
      }
    }
    if (chunked) {
      for (int size; (size = Integer.parseInt(line(in).strip(), 16)) > 0; ) {
        in.readNBytes(size + 2);
      }
      line(in);
    } else if (length > 0) {
      in.readNBytes(length);
    }
    return code;
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder line = new StringBuilder();
    for (int b; (b = in.read()) != '\n'; ) {
      if (b < 0) {
        throw new IOException("closed");
      }
      if (b != '\r') {
        line.append((char) b);
      }
    }
    return line.toString();
  }
}
