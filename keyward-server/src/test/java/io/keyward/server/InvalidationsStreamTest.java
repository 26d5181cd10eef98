package io.keyward.server;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.keyward.client.admin.KeywardClient;
import io.keyward.key.KeyHash;
import io.keyward.server.api.InvalidationsApi;
import io.keyward.server.testing.KeywardCluster;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /v1/invalidations} on a real three-node cluster (PostgreSQL and Redis): a change made
 * on any node reaches the streams of every node, naming the key's hash (and id); a node whose
 * channel to the others is cut says so on its streams; callers need a verify key; a subscriber
 * that stops reading is cut off by the write timeout.
 */
class InvalidationsStreamTest {
  private static KeywardCluster cluster;
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<io.keyward.testing.TcpProxy> restored =
      new java.util.concurrent.CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() {
    cluster = KeywardCluster.start(3);
  }

  @AfterAll
  static void stop() {
    cluster.close();
    restored.forEach(io.keyward.testing.TcpProxy::close);
  }

  /** One SSE event: its name and its data as JSON. */
  record Event(String name, JsonNode data) {}

  /** A subscription read on a thread of its own into a queue of events. */
  static final class Subscription implements AutoCloseable {
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final Thread reader;
    private volatile java.io.InputStream body;

    Subscription(URI base, String key) throws Exception {
      HttpResponse<java.io.InputStream> response = HTTP.send(HttpRequest.newBuilder(
              base.resolve("/v1/invalidations")).header("Authorization", "Bearer " + key).build(),
          HttpResponse.BodyHandlers.ofInputStream());
      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.headers().firstValue("Content-Type")).hasValue("text/event-stream");
      body = response.body();
      reader = Thread.ofVirtual().start(() -> {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(body,
            StandardCharsets.UTF_8))) {
          String name = null;
          for (String line; (line = in.readLine()) != null; ) {
            if (line.startsWith("event: ")) {
              name = line.substring(7);
            } else if (line.startsWith("data: ") && name != null) {
              events.add(new Event(name, JSON.readTree(line.substring(6))));
              name = null;
            }
          }
        } catch (IOException e) {
          // closed
        }
      });
    }

    /** The next event named {@code name}, skipping heartbeats and others, within 10 s. */
    Event next(String name) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < deadline) {
        Event event = events.poll(100, TimeUnit.MILLISECONDS);
        if (event != null && event.name().equals(name)) {
          return event;
        }
      }
      throw new AssertionError("no '" + name + "' event within 10 s");
    }

    @Override
    public void close() throws IOException {
      body.close();
      reader.interrupt();
    }
  }

  @Test
  void aRevocationOnOneNodeReachesTheStreamsOfEveryNodeNamingTheKey() throws Exception {
    KeywardClient admin = cluster.node(0).client();
    String verifyKey = admin.createKey(Map.of("name", "sdk", "ownerId", "svc",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    JsonNode created = admin.createKey(Map.of("name", "k", "ownerId", "o")).body();
    String key = created.get("key").asText();
    String keyId = created.get("keyId").asText();
    // Every node has the key cached (so each can name its id).
    for (KeywardCluster.Node node : cluster.nodes()) {
      assertThat(node.client().verify(key, List.of()).body().get("code").asText())
          .isEqualTo("VALID");
    }
    List<Subscription> streams = new java.util.ArrayList<>();
    try {
      for (KeywardCluster.Node node : cluster.nodes()) {
        Subscription subscription = new Subscription(node.baseUri(), verifyKey);
        streams.add(subscription);
        Event hello = subscription.next("hello");
        assertThat(hello.data().get("synced").asBoolean()).isTrue();
        assertThat(hello.data().get("heartbeatMillis").asLong()).isEqualTo(5_000);
      }

      assertThat(cluster.node(1).client().revokeKey(keyId).status()).isEqualTo(200);

      String hash = KeyHash.of(key).toHex();
      int named = 0;
      for (Subscription subscription : streams) {
        Event event = subscription.next("invalidate");
        while (!event.data().get("keyHash").asText().equals(hash)) {
          event = subscription.next("invalidate");
        }
        // The id when the node had the key cached at that moment (a change may be announced
        // more than once, and the later ones find it gone), never another key's.
        JsonNode id = event.data().get("keyId");
        assertThat(id.isNull() || id.asText().equals(keyId)).as("keyId %s", id).isTrue();
        named += id.isNull() ? 0 : 1;
      }
      assertThat(named).as("streams that named the key").isPositive();
    } finally {
      for (Subscription subscription : streams) {
        subscription.close();
      }
    }
  }

  @Test
  void aNodeWhoseChannelIsCutSaysSoOnItsStreamsAndAgainWhenItIsBack() throws Exception {
    KeywardClient admin = cluster.node(0).client();
    String verifyKey = admin.createKey(Map.of("name", "sdk2", "ownerId", "svc",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    KeywardCluster.Node node = cluster.node(2);
    try (Subscription subscription = new Subscription(node.baseUri(), verifyKey)) {
      subscription.next("hello");
      int port = node.redisProxy().port();
      node.redisProxy().stop();
      try {
        subscription.next("unsynced");
      } finally {
        restored.add(io.keyward.testing.TcpProxy.on(port, 6379));
      }
      subscription.next("synced");
    }
    await(() -> !cluster.node(2).server().verifier().isUnsynced());
  }

  @Test
  void aStreamNeedsAVerifyKey() throws Exception {
    URI base = cluster.node(0).baseUri();
    HttpResponse<String> none = HTTP.send(HttpRequest.newBuilder(base.resolve("/v1/invalidations"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(none.statusCode()).isEqualTo(401);
    String plain = cluster.node(0).client().createKey(Map.of("name", "p", "ownerId", "o"))
        .body().get("key").asText();
    HttpResponse<String> weak = HTTP.send(HttpRequest.newBuilder(base.resolve("/v1/invalidations"))
        .header("Authorization", "Bearer " + plain).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(weak.statusCode()).isEqualTo(403);
  }

  private static double metric(KeywardCluster.Node node, String name) {
    String scrape = node.client().sendJson("GET", "/metrics", null, null, false).raw().body();
    return scrape.lines().filter(line -> line.startsWith(name + " ") || line.startsWith(name + "{"))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  @Test
  void aSubscriberThatStopsReadingLosesItsStreamOnceOneWriteTakesLongerThanTheTimeout()
      throws Exception {
    KeywardCluster.Node node = cluster.node(2);
    String key = node.client().createKey(Map.of("name", "stuck", "ownerId", "o",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    double before = metric(node, "keyward_invalidations_write_timeouts_total");
    try (java.net.Socket socket = new java.net.Socket()) {
      socket.setReceiveBufferSize(4096);
      socket.connect(new java.net.InetSocketAddress("127.0.0.1", node.server().port()));
      socket.getOutputStream().write(("GET /v1/invalidations HTTP/1.1\r\nHost: keyward\r\n"
          + "Authorization: Bearer " + key + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      java.io.InputStream in = socket.getInputStream();
      StringBuilder head = new StringBuilder();
      while (head.indexOf("event: hello") < 0) {
        int b = in.read();
        assertThat(b).as("the stream's start").isNotNegative();
        head.append((char) b);
      }
      // From here the client reads nothing: the node's writes to it block once the socket's
      // buffers are full, and its queue overflows (which alone cannot end a stuck write).
      long started = System.nanoTime();
      // Invalidations until the node gives up on the stuck write, in bursts: a fixed number
      // could leave the socket's buffers unfilled on a slow machine (an overflowing queue drops
      // events), and the write would never block. A bound of its own, beyond Eventually's 15 s,
      // since the timeout alone is 10 s.
      long deadline = started + InvalidationsApi.WRITE_TIMEOUT.toNanos()
          + TimeUnit.SECONDS.toNanos(45);
      for (int i = 0; metric(node, "keyward_invalidations_write_timeouts_total") < before + 1; ) {
        assertThat(System.nanoTime()).as("the stuck write ended within 55 s").isLessThan(deadline);
        for (int burst = 0; burst < 5_000; burst++, i++) {
          node.server().verifier().invalidateLocally(KeyHash.of("kw_stuck_" + i));
        }
        Thread.sleep(50);
      }
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
      assertThat(tookMillis).as("ended by the write timeout, not before it")
          .isGreaterThanOrEqualTo(InvalidationsApi.WRITE_TIMEOUT.toMillis());
      // The server closed the connection: what it had sent is read, then the end (or a reset);
      // a connection still open would fail the test with a read timeout.
      socket.setSoTimeout(10_000);
      byte[] buffer = new byte[1 << 16];
      try {
        while (in.read(buffer) >= 0) {
          // what was in flight
        }
      } catch (java.net.SocketException reset) {
        // closed with data unread: as good as the end
      }
    }
  }
}
