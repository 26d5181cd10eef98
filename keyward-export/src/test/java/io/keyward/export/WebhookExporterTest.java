package io.keyward.export;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.UsageBatch;
import io.keyward.verify.Outcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The webhook exporter against a receiver this test runs on a free loopback port (the JDK's HTTP
 * server), over the real PostgreSQL outbox: signatures a receiver can check, a receiver that
 * answers 500, one that hangs.
 */
class WebhookExporterTest {
  private static final Instant T0 = Instant.parse("2026-11-30T10:00:00Z");
  private static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  private static final String SECRET = "whsec_" + Base64.getEncoder().encodeToString(KEY);

  /** What the receiver got: headers and body of each request. */
  record Received(String id, String timestamp, String signature, String body) {}

  private final List<Received> received = new CopyOnWriteArrayList<>();
  /** What the receiver answers: 200, 500, -1 to hang for 10 s, -2 to send headers then stall. */
  private final AtomicInteger answer = new AtomicInteger(200);
  private final HttpServer receiver;
  private final TestDatabase database = TestDatabase.createMigrated();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final PostgresUsageStore store =
      new PostgresUsageStore(database.pool(), Clock.systemUTC(), registry);
  private final UsageOutbox outbox = new UsageOutbox(database.pool(), store.gate(), Clock.systemUTC());
  private ExportLoop loop;

  WebhookExporterTest() throws Exception {
    receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    receiver.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
    receiver.createContext("/hook", exchange -> {
      byte[] body = exchange.getRequestBody().readAllBytes();
      var h = exchange.getRequestHeaders();
      received.add(new Received(h.getFirst("webhook-id"), h.getFirst("webhook-timestamp"),
          h.getFirst("webhook-signature"), new String(body, StandardCharsets.UTF_8)));
      int status = answer.get();
      if (status == -2) {
        exchange.sendResponseHeaders(200, 100); // promises 100 bytes, sends none
        try {
          Thread.sleep(10_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        exchange.close();
        return;
      }
      if (status < 0) {
        try {
          Thread.sleep(10_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        status = 200;
      }
      exchange.sendResponseHeaders(status, -1);
      exchange.close();
    });
    receiver.start();
  }

  @AfterEach
  void close() {
    if (loop != null) {
      loop.close();
    }
    receiver.stop(0);
    database.close();
  }

  private String url() {
    return "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
  }

  private void flush(long seq) {
    store.flush("node_w", seq, new UsageBatch(List.of(new UsageBatch.Count("key_a", "owner",
        Outcome.VALID, T0.toEpochMilli(), seq)), Map.of("key_a", T0.toEpochMilli()), List.of()),
        true, T0);
  }

  private static String expectedSignature(Received r) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(KEY, "HmacSHA256"));
    return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(
        (r.id() + "." + r.timestamp() + "." + r.body()).getBytes(StandardCharsets.UTF_8)));
  }

  private void startLoop(Duration timeout) {
    outbox.cursor("webhook");
    loop = new ExportLoop(new WebhookExporter(url(), SECRET, Clock.systemUTC(), timeout), outbox,
        Duration.ofMillis(50), Clock.systemUTC(), registry).start();
  }

  @Test
  void eachBatchIsPostedSignedTheStandardWebhooksWay() throws Exception {
    outbox.cursor("webhook");
    flush(1);
    startLoop(Duration.ofSeconds(5));
    await(() -> received.size() == 1);
    Received r = received.get(0);
    assertThat(r.id()).isEqualTo("node_w:1:0");
    assertThat(Long.parseLong(r.timestamp()))
        .isBetween(Instant.now().getEpochSecond() - 60, Instant.now().getEpochSecond() + 1);
    assertThat(r.signature()).isEqualTo(expectedSignature(r));
    assertThat(r.body()).startsWith("{\"id\":\"node_w:1:0\"").contains("\"count\": 1");
  }

  @Test
  void aReceiverAnswering500IsRetriedUnderTheSameIdUntilItTakesTheBatch() {
    answer.set(500);
    outbox.cursor("webhook");
    flush(1);
    startLoop(Duration.ofSeconds(5));
    await(() -> registry.get("keyward.usage.export.failures").counter().count() >= 2);
    assertThat(outbox.lag(outbox.cursor("webhook"))).isEqualTo(1);
    answer.set(200);
    await(() -> outbox.lag(outbox.cursor("webhook")) == 0);
    assertThat(received).extracting(Received::id).containsOnly("node_w:1:0").hasSizeGreaterThan(2);
  }

  /** -1: the receiver hangs before answering; -2: it sends headers, then stalls its body. */
  @org.junit.jupiter.params.ParameterizedTest(name = "receiver mode {0}")
  @org.junit.jupiter.params.provider.ValueSource(ints = {-1, -2})
  void aReceiverThatHangsOrStallsTimesOutAndTheBatchIsDeliveredOnceItAnswers(int mode) {
    answer.set(mode);
    outbox.cursor("webhook");
    flush(1);
    startLoop(Duration.ofMillis(300));
    await(() -> registry.get("keyward.usage.export.failures").counter().count() >= 1);
    assertThat(loop.status().lastError()).contains("did not answer within 300 ms");
    answer.set(200);
    await(() -> outbox.lag(outbox.cursor("webhook")) == 0);
  }

  @Test
  void aSecretOrUrlOfTheWrongShapeIsRefusedNamingIt() {
    assertThatThrownBy(() -> new WebhookExporter(url(), "secret", Clock.systemUTC()))
        .hasMessageContaining("must start with whsec_");
    assertThatThrownBy(() -> new WebhookExporter(url(), "whsec_c2hvcnQ=", Clock.systemUTC()))
        .hasMessageContaining("at least 24 bytes, got 5");
    assertThatThrownBy(() -> new WebhookExporter("ftp://host/x", SECRET, Clock.systemUTC()))
        .hasMessageContaining("must be http:// or https://");
  }
}
